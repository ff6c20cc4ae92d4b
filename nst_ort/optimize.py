"""Pixel optimisers driven by any Engine: L-BFGS-B (default), Adam and SGD.

Every optimiser keeps the pixels in [0, 1], reports a Progress after each iteration, keeps
the best image seen, and returns it when interrupted (Ctrl-C).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, minimize

from nst_ort.engines.base import Engine
from nst_ort.errors import NstError

OPTIMIZERS = ("lbfgs", "adam", "sgd")


@dataclass(frozen=True)
class Progress:
    """What the optimiser reports after each iteration."""

    iteration: int
    iterations: int
    loss: float
    terms: dict[str, float]
    evaluations: int
    elapsed: float
    seconds_per_iteration: float
    level: int = 1  # coarse-to-fine level (1-based) and their count
    levels: int = 1
    size: tuple[int, int] = (0, 0)  # working (width, height)
    later_levels_seconds: float = 0.0  # estimate for the levels still to come

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
    method: str = "lbfgs"  # lbfgs | adam | sgd
    history: int = 10  # L-BFGS memory (correction pairs)
    learning_rate: float = 0.01  # adam/sgd, in [0, 1] pixel units
    decay: float = 1.0  # adam/sgd: the rate is multiplied by `decay` every `decay_steps` (smoothly)
    decay_steps: int = 100
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def validate(self) -> None:
        if self.method not in OPTIMIZERS:
            raise NstError(f"unknown optimizer {self.method!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not (self.learning_rate > 0 and np.isfinite(self.learning_rate)):
            raise NstError(f"--learning-rate must be > 0, not {self.learning_rate}")
        if not (0 < self.decay <= 1) or self.decay_steps < 1:
            raise NstError("--lr-decay must be in (0, 1] and --lr-decay-steps >= 1")

    def learning_rate_at(self, step: int) -> float:
        """Exponential decay, as Keras' ExponentialDecay (not staircase)."""
        return self.learning_rate * self.decay ** (step / self.decay_steps)


class _Run:
    """Shared bookkeeping: evaluations, the best image, progress events."""

    def __init__(self, engine: Engine, start: np.ndarray, iterations: int, on_progress: ProgressCallback | None):
        self.engine, self.shape, self.iterations, self.on_progress = engine, start.shape, iterations, on_progress
        self.evaluations = 0
        self.best_loss = np.inf
        self.best_image = start.astype(np.float32)
        self.last_terms: dict[str, float] = {}
        self.history: list[Progress] = []
        self.started = time.perf_counter()

    def evaluate(self, pixels: np.ndarray) -> tuple[float, np.ndarray]:
        result = self.engine.evaluate(pixels)
        self.evaluations += 1
        self.last_terms = result.terms
        if result.loss < self.best_loss:
            self.best_loss, self.best_image = result.loss, pixels.copy()
        return result.loss, result.grad

    def iteration_done(self, loss: float, pixels: np.ndarray) -> None:
        elapsed = time.perf_counter() - self.started
        count = len(self.history) + 1
        progress = Progress(iteration=count, iterations=self.iterations, loss=float(loss), terms=self.last_terms,
                            evaluations=self.evaluations, elapsed=elapsed, seconds_per_iteration=elapsed / count,
                            size=(self.shape[2], self.shape[1]))
        self.history.append(progress)
        if self.on_progress is not None:
            self.on_progress(progress, pixels)

    def outcome(self, interrupted: bool) -> Outcome:
        return Outcome(image=self.best_image, loss=float(self.best_loss), history=self.history,
                       evaluations=self.evaluations, interrupted=interrupted)


def _lbfgs(run: _Run, start: np.ndarray, settings: OptimizerSettings) -> None:
    shape = start.shape

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = run.evaluate(x.astype(np.float32).reshape(shape))
        return loss, grad.astype(np.float64).ravel()

    def callback(intermediate_result) -> None:
        run.iteration_done(intermediate_result.fun, intermediate_result.x.astype(np.float32).reshape(shape))

    minimize(fun, start.astype(np.float64).ravel(), jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0),
             callback=callback, options={"maxiter": settings.iterations, "maxcor": settings.history,
                                         "maxfun": settings.iterations * 4 + 20, "ftol": 0.0, "gtol": 0.0})


def _first_order(run: _Run, start: np.ndarray, settings: OptimizerSettings) -> None:
    """Adam or plain gradient descent, projected onto [0, 1] after every step."""
    pixels = start.astype(np.float32).copy()
    moment, second = np.zeros_like(pixels), np.zeros_like(pixels)
    for step in range(settings.iterations):
        loss, grad = run.evaluate(pixels)
        rate = settings.learning_rate_at(step)
        if settings.method == "adam":
            moment = settings.beta1 * moment + (1 - settings.beta1) * grad
            second = settings.beta2 * second + (1 - settings.beta2) * grad * grad
            corrected = moment / (1 - settings.beta1 ** (step + 1))
            scale = np.sqrt(second / (1 - settings.beta2 ** (step + 1))) + settings.epsilon
            update = corrected / scale
        else:
            update = grad
        pixels = np.clip(pixels - rate * update, 0.0, 1.0)
        run.iteration_done(loss, pixels)


def optimize(engine: Engine, start: np.ndarray, settings: OptimizerSettings,
             on_progress: ProgressCallback | None = None) -> Outcome:
    """Minimise the engine's loss from `start` within [0, 1]; Ctrl-C keeps the best so far."""
    settings.validate()
    run = _Run(engine, start, settings.iterations, on_progress)
    try:
        (_lbfgs if settings.method == "lbfgs" else _first_order)(run, start, settings)
    except KeyboardInterrupt:
        return run.outcome(interrupted=True)
    return run.outcome(interrupted=False)
