"""L-BFGS-B over the pixels, driven by any Engine; progress goes to a callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, minimize

from nst_ort.engines.base import Engine


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
class LbfgsSettings:
    iterations: int
    history: int = 10  # L-BFGS memory (correction pairs)


class _Tracker:
    """Wraps the engine for scipy: float64 in/out, counts evaluations, keeps the best."""

    def __init__(self, engine: Engine, shape: tuple[int, ...]) -> None:
        self.engine, self.shape = engine, shape
        self.evaluations = 0
        self.best_loss = np.inf
        self.best_image: np.ndarray | None = None
        self.last_terms: dict[str, float] = {}

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        pixels = x.astype(np.float32).reshape(self.shape)
        result = self.engine.evaluate(pixels)
        self.evaluations += 1
        self.last_terms = result.terms
        if result.loss < self.best_loss:
            self.best_loss, self.best_image = result.loss, pixels
        return result.loss, result.grad.astype(np.float64).ravel()


def run_lbfgs(engine: Engine, start: np.ndarray, settings: LbfgsSettings,
              on_progress: ProgressCallback | None = None) -> Outcome:
    """Minimise the engine's loss from `start` within [0, 1]; Ctrl-C keeps the best so far."""
    tracker = _Tracker(engine, start.shape)
    history: list[Progress] = []
    started = time.perf_counter()

    def callback(intermediate_result) -> None:
        elapsed = time.perf_counter() - started
        progress = Progress(iteration=len(history) + 1, iterations=settings.iterations,
                            loss=float(intermediate_result.fun), terms=tracker.last_terms,
                            evaluations=tracker.evaluations, elapsed=elapsed,
                            seconds_per_iteration=elapsed / (len(history) + 1),
                            size=(start.shape[2], start.shape[1]))
        history.append(progress)
        if on_progress is not None:
            on_progress(progress, intermediate_result.x.astype(np.float32).reshape(start.shape))

    interrupted = False
    try:
        minimize(tracker, start.astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
                 bounds=Bounds(0.0, 1.0), callback=callback,
                 options={"maxiter": settings.iterations, "maxcor": settings.history,
                          "maxfun": settings.iterations * 4 + 20, "ftol": 0.0, "gtol": 0.0})
    except KeyboardInterrupt:
        interrupted = True
    image = tracker.best_image if tracker.best_image is not None else start.astype(np.float32)
    return Outcome(image=image, loss=float(tracker.best_loss), history=history,
                   evaluations=tracker.evaluations, interrupted=interrupted)
