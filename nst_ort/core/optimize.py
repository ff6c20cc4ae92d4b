"""The optimisation loop: any Engine, any pixel optimiser (nst_ort/core/optimizers), one level.

The loop keeps the pixels in [0, 1], reports a Progress after each iteration, keeps the best
image seen, and returns it when interrupted (Ctrl-C). Between iterations it hands out a
Snapshot (the optimiser's state and the loop's own), from which `optimize(resume=...)`
continues exactly: a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nst_base.errors import NstError
from nst_ort.core.engines.base import Engine
from nst_ort.core.optimizers.base import Method
from nst_ort.core.optimizers.first_order import FirstOrder
from nst_ort.core.optimizers.lbfgs import Lbfgs
from nst_ort.options.choices import OPTIMIZERS
from nst_ort.options.stylize import StylizeOptions



@dataclass(frozen=True)
class Progress:
    """What the optimiser reports after each iteration."""

    iteration: int
    iterations: int
    loss: float
    terms: dict[str, float]
    evaluations: int
    elapsed: float
    seconds_per_iteration: float  # the pace ahead: see _Run.pace
    level: int = 1  # coarse-to-fine level (1-based) and their count
    levels: int = 1
    size: tuple[int, int] = (0, 0)  # working (width, height)
    later_levels_seconds: float = 0.0  # estimate for the levels still to come
    run_seconds: float = 0.0  # the whole run's time so far (earlier levels and sessions included)

    @property
    def eta(self) -> float:
        return self.seconds_per_iteration * (self.iterations - self.iteration) + self.later_levels_seconds


@dataclass
class Outcome:
    """The best image seen, and how the run went."""

    image: np.ndarray  # (3, H, W) float32 in [0, 1]
    loss: float
    history: list[Progress] = field(default_factory=list)
    evaluations: int = 0
    interrupted: bool = False


ProgressCallback = Callable[[Progress, np.ndarray], None]


@dataclass(frozen=True)
class OptimizerSettings:
    iterations: int
    method: str = "lbfgs"  # lbfgs | adam | sgd | scipy-lbfgsb (a reference: no snapshots)
    history: int = 10  # L-BFGS memory (correction pairs)
    learning_rate: float = 0.01  # adam/sgd, in [0, 1] pixel units
    lr_decay: float = 1.0  # adam/sgd: the rate is multiplied by `lr_decay` every `lr_decay_steps` (smoothly)
    lr_decay_steps: int = 100
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    stall: float = 0.0  # stop once the last `stall_window` iterations lowered the loss by less than this fraction
    stall_window: int = 10

    @classmethod
    def of(cls, options: StylizeOptions, iterations: int) -> OptimizerSettings:
        """A run's optimiser settings for a level of `iterations`."""
        return cls(iterations=iterations, method=options.optimizer, learning_rate=options.learning_rate,
                   lr_decay=options.lr_decay, lr_decay_steps=options.lr_decay_steps, stall=options.stall)

    def validate(self) -> None:
        if self.method not in OPTIMIZERS:
            raise NstError(f"unknown optimizer {self.method!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not (self.learning_rate > 0 and np.isfinite(self.learning_rate)):
            raise NstError(f"--learning-rate must be > 0, not {self.learning_rate}")
        if not (0 < self.lr_decay <= 1) or self.lr_decay_steps < 1:
            raise NstError("--lr-decay must be in (0, 1] and --lr-decay-steps >= 1")

    def method_for(self, shape: tuple[int, ...]) -> Method:
        if self.method == "lbfgs":
            return Lbfgs(shape, self.history)
        return FirstOrder(self.learning_rate, adam=self.method == "adam", decay=self.lr_decay,
                          decay_steps=self.lr_decay_steps, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)


@dataclass(frozen=True)
class Snapshot:
    """The loop between two iterations: enough to continue it exactly."""

    method: dict[str, np.ndarray]  # the optimiser's state (Method.state)
    best_image: np.ndarray
    best_loss: float
    evaluations: int
    elapsed: float  # seconds spent so far in this level
    history: tuple[Progress, ...]


SnapshotCallback = Callable[[Snapshot], None]


class _Run:
    """Shared bookkeeping: evaluations, the best image, progress events."""

    def __init__(self, engine: Engine, start: np.ndarray, iterations: int, on_progress: ProgressCallback | None,
                 resume: Snapshot | None = None, clock: Callable[[], float] = time.perf_counter):
        self.clock = clock
        self.engine, self.shape, self.iterations, self.on_progress = engine, start.shape, iterations, on_progress
        self.evaluations = resume.evaluations if resume else 0
        self.best_loss = resume.best_loss if resume else np.inf
        self.best_image = resume.best_image if resume else start.astype(np.float32)
        self.last_terms: dict[str, float] = dict(resume.history[-1].terms) if resume and resume.history else {}
        self.history: list[Progress] = list(resume.history) if resume else []
        self.started = clock() - (resume.elapsed if resume else 0.0)

    def evaluate(self, pixels: np.ndarray) -> tuple[float, np.ndarray]:
        result = self.engine.evaluate(pixels)
        if not np.isfinite(result.loss) and self.best_loss == np.inf:
            raise NstError(f"the loss is {result.loss} from the start: the weights are too large for float32 "
                           f"(lower --style-weight, --content-weight or --tv-weight)")
        self.evaluations += 1
        self.last_terms = result.terms
        if result.loss < self.best_loss:  # no copy: the optimisers never change an array they evaluated
            self.best_loss, self.best_image = result.loss, pixels
        return result.loss, result.grad

    def pace(self, elapsed: float) -> float:
        """Seconds per iteration ahead. The first iteration is no guide (L-BFGS evaluates twice
        there, the arena grows): after it, the iterations since; during it, the seconds per
        evaluation so far."""
        if not self.history:
            return elapsed / max(1, self.evaluations)
        return (elapsed - self.history[0].elapsed) / len(self.history)

    def iteration_done(self, loss: float, pixels: np.ndarray) -> None:
        elapsed = self.clock() - self.started
        count = len(self.history) + 1
        progress = Progress(iteration=count, iterations=self.iterations, loss=float(loss), terms=self.last_terms,
                            evaluations=self.evaluations, elapsed=elapsed, seconds_per_iteration=self.pace(elapsed),
                            size=(self.shape[2], self.shape[1]))
        self.history.append(progress)
        if self.on_progress is not None:
            self.on_progress(progress, pixels)

    def snapshot(self, method: Method) -> Snapshot:
        return Snapshot(method.state(), self.best_image, float(self.best_loss), self.evaluations,
                        self.clock() - self.started, tuple(self.history))

    def outcome(self, interrupted: bool) -> Outcome:
        return Outcome(image=self.best_image, loss=float(self.best_loss), history=self.history,
                       evaluations=self.evaluations, interrupted=interrupted)


def _scipy_lbfgsb(run: _Run, start: np.ndarray, settings: OptimizerSettings) -> None:
    """scipy's L-BFGS-B (float64, its state private to scipy): the reference the own L-BFGS is
    measured against (bench/optimizers.py). It gives no snapshots: a resumed run restarts its level."""
    from scipy.optimize import Bounds, minimize

    shape = start.shape

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = run.evaluate(x.astype(np.float32).reshape(shape))
        return loss, grad.astype(np.float64).ravel()

    def callback(intermediate_result) -> None:
        run.iteration_done(intermediate_result.fun, intermediate_result.x.astype(np.float32).reshape(shape))

    minimize(fun, start.astype(np.float64).ravel(), jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0),
             callback=callback, options={"maxiter": settings.iterations, "maxcor": settings.history,
                                         "maxfun": settings.iterations * 4 + 20, "ftol": 0.0, "gtol": 0.0})


def _time_for_another(run: _Run, deadline: float | None) -> bool:
    """Whether one more iteration, at the pace so far, ends before `deadline` (None: no limit)."""
    if deadline is None:
        return True
    pace = run.history[-1].seconds_per_iteration if run.history else 0.0
    return run.clock() + pace < deadline


def _stalled(run: _Run, settings: OptimizerSettings) -> bool:
    """Whether the last `stall_window` iterations lowered the loss by less than `stall` of it
    (the loop's own history: a resumed level stops where the unbroken one would)."""
    if settings.stall <= 0 or len(run.history) <= settings.stall_window:
        return False
    before, now = run.history[-1 - settings.stall_window].loss, run.history[-1].loss
    return before - now < settings.stall * abs(now)


def _steps(run: _Run, start: np.ndarray, settings: OptimizerSettings, on_snapshot: SnapshotCallback | None,
           resume: Snapshot | None, deadline: float | None) -> None:
    """The own optimisers' loop: one step per iteration, a snapshot after each."""
    method = settings.method_for(start.shape)
    method.begin(start)
    if resume is not None:
        try:
            method.restore(resume.method)
        except (KeyError, ValueError, TypeError):
            raise NstError(f"the checkpoint holds no {settings.method} state for this level (were the settings "
                           f"changed?): cannot resume") from None
        if resume.best_image.shape != start.shape or np.size(resume.method.get("x", start)) != start.size:
            raise NstError("the checkpoint's image does not have this level's size: cannot resume")
    while len(run.history) < settings.iterations and _time_for_another(run, deadline) and not _stalled(run, settings):
        loss = method.step(run.evaluate)
        if loss is None:  # converged: no step lowers the loss any more
            return
        run.iteration_done(loss, method.pixels)
        if on_snapshot is not None:
            on_snapshot(run.snapshot(method))


def optimize(engine: Engine, start: np.ndarray, settings: OptimizerSettings,
             on_progress: ProgressCallback | None = None, on_snapshot: SnapshotCallback | None = None,
             resume: Snapshot | None = None, deadline: float | None = None,
             clock: Callable[[], float] = time.perf_counter) -> Outcome:
    """Minimise the engine's loss from `start` within [0, 1]; Ctrl-C keeps the best so far.

    `on_snapshot` receives the loop's state after every iteration; `resume` continues from one.
    No iteration starts that would, at the pace so far, end after `deadline` (in `clock`'s seconds).
    """
    settings.validate()
    run = _Run(engine, start, settings.iterations, on_progress, resume, clock)
    try:
        if settings.method == "scipy-lbfgsb":
            _scipy_lbfgsb(run, start, settings)
        else:
            _steps(run, start, settings, on_snapshot, resume, deadline)
    except KeyboardInterrupt:
        return run.outcome(interrupted=True)
    return run.outcome(interrupted=False)
