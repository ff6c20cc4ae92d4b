"""L-BFGS for pixels in [0, 1], its whole state in plain arrays so a run can stop and resume.

A projected L-BFGS: the two-loop recursion over the last `history` correction pairs gives
the direction, pixels held at a bound by their gradient are frozen for the step, and a
backtracking Armijo search runs along the projected path clip(x + a d, 0, 1). Vectors are
float32 (the engines' precision; half the memory of scipy's float64 L-BFGS-B); dot products
are accumulated in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nst_ort.core.optimizers.base import Evaluate

ARMIJO = 1e-4  # sufficient decrease
CURVATURE_FLOOR = 1e-10  # pairs with s.y below this (relative to y.y) are skipped
MAX_TRIALS = 20  # evaluations per line search


def _dot(a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> float:
    """a . b summed in float64, a chunk at a time. einsum, not np.dot: np.dot hands the work to
    OpenBLAS, whose threads then spin on the cores the next evaluation needs (onnxruntime's
    evaluation after it took 24% longer at 266x200 on 2 cores, the gap between a run and
    `nst bench`); einsum runs in this thread and casts as it goes (no float64 copies)."""
    return float(sum(np.einsum("i,i->", a[i:i + chunk], b[i:i + chunk], dtype=np.float64)
                     for i in range(0, a.size, chunk)))


@dataclass
class Lbfgs:
    """One L-BFGS iteration per `step`; `state`/`restore` round-trip it exactly."""

    shape: tuple[int, ...]
    history: int = 10
    x: np.ndarray | None = None  # current iterate, flat float32
    f: float = np.inf
    g: np.ndarray | None = None
    s: tuple[np.ndarray, ...] = ()  # correction pairs, oldest first (tuples: a snapshot never changes)
    y: tuple[np.ndarray, ...] = ()
    converged: bool = False

    @property
    def pixels(self) -> np.ndarray:
        return self.x.reshape(self.shape)

    def begin(self, start: np.ndarray) -> None:
        self.x = np.ascontiguousarray(start, dtype=np.float32).ravel()

    def _evaluate(self, evaluate: Evaluate, x: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grad = evaluate(x.reshape(self.shape))
        return float(loss), np.ascontiguousarray(grad, dtype=np.float32).ravel()

    def _direction(self) -> np.ndarray:
        x, g = self.x, self.g
        held = ((x <= 0) & (g > 0)) | ((x >= 1) & (g < 0))
        q = np.where(held, np.float32(0), g)
        alphas = []
        for s, y in zip(reversed(self.s), reversed(self.y)):
            rho = 1.0 / _dot(y, s)
            alpha = rho * _dot(s, q)
            q -= np.float32(alpha) * y
            alphas.append((rho, alpha))
        if self.s:
            q *= np.float32(_dot(self.s[-1], self.y[-1]) / _dot(self.y[-1], self.y[-1]))
        for (s, y), (rho, alpha) in zip(zip(self.s, self.y), reversed(alphas)):
            beta = rho * _dot(y, q)
            q += np.float32(alpha - beta) * s
        q[held] = 0
        return np.negative(q, out=q)  # in place: one image-sized vector fewer at the peak

    def step(self, evaluate: Evaluate) -> float | None:
        """One iteration; the loss at the new iterate, or None once no step lowers the loss."""
        if self.converged:
            return None
        if self.g is None:
            self.f, self.g = self._evaluate(evaluate, self.x)
        direction = self._direction()
        slope = _dot(self.g, direction)
        if not slope < 0:  # not a descent direction: forget the history, go downhill
            self.s, self.y = (), ()
            direction = self._direction()
            slope = _dot(self.g, direction)
            if not slope < 0:
                self.converged = True
                return None
        step = 1.0 if self.s else min(1.0, 1.0 / np.sqrt(_dot(direction, direction)))
        for _ in range(MAX_TRIALS):
            trial = direction * np.float32(step)  # clip(x + step d) in one new vector
            trial += self.x
            np.clip(trial, 0.0, 1.0, out=trial)
            moved = trial - self.x
            loss, grad = self._evaluate(evaluate, trial)
            decrease = _dot(self.g, moved)
            if np.isfinite(loss) and loss <= self.f + ARMIJO * decrease:
                break
            # the minimum of the quadratic through f(0), f'(0) and f(step), kept in [0.1, 0.5] x step
            curve = loss - self.f - decrease
            shrink = 0.5 if not (np.isfinite(loss) and curve > 0) else min(0.5, max(0.1, -decrease / (2 * curve)))
            step *= shrink
        else:
            self.converged = True
            return None
        change = grad - self.g
        if _dot(moved, change) > CURVATURE_FLOOR * _dot(change, change):
            self.s = (self.s + (moved,))[-self.history:]
            self.y = (self.y + (change,))[-self.history:]
        self.x, self.f, self.g = trial, loss, grad
        return loss

    def state(self) -> dict[str, np.ndarray]:
        arrays = {"x": self.x, "f": np.float64(self.f), "converged": np.bool_(self.converged),
                  "pairs": np.int64(len(self.s))}
        if self.g is not None:
            arrays["g"] = self.g
        for index, (s, y) in enumerate(zip(self.s, self.y)):
            arrays[f"s{index}"], arrays[f"y{index}"] = s, y
        return arrays

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.x, self.f = arrays["x"], float(arrays["f"])
        self.g = arrays.get("g")
        self.converged = bool(arrays["converged"])
        pairs = int(arrays["pairs"])
        self.s = tuple(arrays[f"s{i}"] for i in range(pairs))
        self.y = tuple(arrays[f"y{i}"] for i in range(pairs))
