"""What every pixel optimiser is: one iteration per `step`, and a state that saves and restores exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

Evaluate = Callable[[np.ndarray], tuple[float, np.ndarray]]  # pixels (3, H, W) -> loss, gradient


class Method(Protocol):
    """A pixel optimiser. `state()` is taken between iterations: plain arrays (scalars as
    0-d arrays) that are never modified afterwards, so a snapshot stays valid while the next
    iteration runs; `restore(state)` continues exactly where it was taken. Nor is an array
    handed to `evaluate` modified later: the loop keeps the best one without a copy."""

    @property
    def pixels(self) -> np.ndarray: ...

    def begin(self, start: np.ndarray) -> None: ...

    def step(self, evaluate: Evaluate) -> float | None: ...  # the loss to report; None: converged

    def state(self) -> dict[str, np.ndarray]: ...

    def restore(self, arrays: dict[str, np.ndarray]) -> None: ...
