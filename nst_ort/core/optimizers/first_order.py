"""Adam and plain gradient descent, projected onto [0, 1] after every step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nst_ort.core.optimizers.base import Evaluate


@dataclass
class FirstOrder:
    """Adam (`adam=True`, Kingma & Ba with bias correction) or SGD; the rate decays
    exponentially as Keras' ExponentialDecay (not staircase)."""

    learning_rate: float
    adam: bool = True
    decay: float = 1.0
    decay_steps: int = 100
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    x: np.ndarray | None = None
    moment: np.ndarray | None = None
    second: np.ndarray | None = None
    steps: int = 0

    @property
    def pixels(self) -> np.ndarray:
        return self.x

    def begin(self, start: np.ndarray) -> None:
        self.x = np.ascontiguousarray(start, dtype=np.float32)
        if self.adam:
            self.moment, self.second = np.zeros_like(self.x), np.zeros_like(self.x)

    def rate(self, step: int) -> float:
        return self.learning_rate * self.decay ** (step / self.decay_steps)

    def step(self, evaluate: Evaluate) -> float:
        loss, grad = evaluate(self.x)
        if self.adam:
            self.moment = self.beta1 * self.moment + (1 - self.beta1) * grad
            self.second = self.beta2 * self.second + (1 - self.beta2) * grad * grad
            corrected = self.moment / (1 - self.beta1 ** (self.steps + 1))
            update = corrected / (np.sqrt(self.second / (1 - self.beta2 ** (self.steps + 1))) + self.epsilon)
        else:
            update = grad
        self.x = np.clip(self.x - self.rate(self.steps) * update, 0.0, 1.0).astype(np.float32)
        self.steps += 1
        return float(loss)

    def state(self) -> dict[str, np.ndarray]:
        arrays = {"x": self.x, "steps": np.int64(self.steps)}
        if self.adam:
            arrays.update(moment=self.moment, second=self.second)
        return arrays

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.x, self.steps = arrays["x"], int(arrays["steps"])
        if self.adam:
            self.moment, self.second = arrays["moment"], arrays["second"]
