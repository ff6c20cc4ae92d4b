"""The engine interface the optimiser sees, and the loss inputs every engine takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from nst_graphs.loss_graph import (
    TV_WEIGHT,
    LossLayers,
    content_target_name,
    content_weight_name,
    style_mask_name,
    style_target_name,
    style_weight_name,
)


@dataclass(frozen=True)
class LossInputs:
    """Targets and per-layer weights: everything the loss graph reads besides the image.

    With spatial masks (K regions) a style layer's target is (K, C, C), its weight a (K,)
    array and `style_masks` holds its (K, 1, h, w) masks at the layer's resolution. Style
    losses other than the Gram's (nst_ort/core/engines/style_losses.py) also read the painting's
    mean features, `style_means`.
    """

    content_targets: dict[str, np.ndarray]  # layer -> (1, C, h, w)
    style_targets: dict[str, np.ndarray]  # layer -> (C, C) Gram, or (K, C, C)
    content_weights: dict[str, float]
    style_weights: dict[str, float | np.ndarray]
    tv_weight: float
    style_masks: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> (K, 1, h, w)
    style_loss: str = "gram"  # or w2
    style_means: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> (C,) or (K, C), float64

    @property
    def regions(self) -> int:
        return len(next(iter(self.style_masks.values()))) if self.style_masks else 0

    @property
    def layers(self) -> LossLayers:
        return LossLayers(tuple(self.content_targets), tuple(self.style_targets), self.regions)

    def feeds(self) -> dict[str, np.ndarray]:
        """The loss graph's named inputs (all but the image)."""
        scalar = lambda value: np.asarray(value, dtype=np.float32)  # noqa: E731
        feeds = {TV_WEIGHT: scalar(self.tv_weight)}
        for layer, target in self.content_targets.items():
            feeds[content_target_name(layer)] = np.ascontiguousarray(target, dtype=np.float32)
            feeds[content_weight_name(layer)] = scalar(self.content_weights[layer])
        for layer, target in self.style_targets.items():
            feeds[style_target_name(layer)] = np.ascontiguousarray(target, dtype=np.float32)
            feeds[style_weight_name(layer)] = scalar(self.style_weights[layer])
        for layer, masks in self.style_masks.items():
            feeds[style_mask_name(layer)] = np.ascontiguousarray(masks, dtype=np.float32)
        return feeds


@dataclass(frozen=True)
class Evaluation:
    """One loss evaluation: the total, its named terms, and d(total)/d(pixels)."""

    loss: float
    terms: dict[str, float]
    grad: np.ndarray  # (3, H, W) float32


class Engine(Protocol):
    """Computes the loss and its gradient with respect to the pixels of one image size."""

    name: str

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        """Loss terms and gradient at `pixels` (3, H, W) float32 RGB in [0, 1]."""
        ...

    def loss_and_grad(self, pixels: np.ndarray) -> tuple[float, np.ndarray]:
        ...


class EngineBase:
    """Shared convenience on top of `evaluate`."""

    name = "base"

    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        raise NotImplementedError

    def loss_and_grad(self, pixels: np.ndarray) -> tuple[float, np.ndarray]:
        result = self.evaluate(pixels)
        return result.loss, result.grad
