"""The temporal term: keep a frame's reliable pixels close to the previous result warped onto it.

    temporal = weight / D * sum(c * (x - w)^2)     D = 3 * H * W
    d temporal / dx = 2 * weight / D * c * (x - w)

with x the frame being optimised, w the previous stylised frame warped by the flow and c the
reliability mask (flow.reliable). A pixel-space term: its gradient is added to the engine's.
"""

from __future__ import annotations

import numpy as np

from nst_ort.core.engines.base import Engine, EngineBase, Evaluation

TEMPORAL = "temporal"


class TemporalEngine(EngineBase):
    """Any engine plus the temporal term: to the optimiser it is just another engine."""

    def __init__(self, inner: Engine, warped: np.ndarray, mask: np.ndarray, weight: float) -> None:
        if warped.ndim != 3 or mask.shape != warped.shape[1:]:
            raise ValueError(f"warped (3, H, W) and mask (H, W) must match, got {warped.shape} and {mask.shape}")
        self.inner, self.warped, self.weight = inner, warped.astype(np.float32), float(weight)
        self.mask = mask.astype(np.float32)[None]
        self.name = f"{inner.name}+temporal"

    def term(self, pixels: np.ndarray) -> tuple[float, np.ndarray]:
        """The temporal term and its gradient on its own."""
        difference = pixels - self.warped
        scale = self.weight / difference.size
        masked = self.mask * difference
        return scale * float(np.sum(masked * difference, dtype=np.float64)), (2.0 * scale * masked).astype(np.float32)

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        inner = self.inner.evaluate(pixels)
        value, grad = self.term(pixels)
        return Evaluation(inner.loss + value, {**inner.terms, TEMPORAL: value}, inner.grad + grad)
