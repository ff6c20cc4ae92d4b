"""Content features and style Grams of the target images, computed once per size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from export.features import IMAGE
from nst_ort.engines.base import LossInputs
from nst_ort.session import session_options


class FeatureExtractor:
    """Runs the exported features model and returns the requested relu activations."""

    def __init__(self, features_path: str, threads: int = 0) -> None:
        self._session = ort.InferenceSession(features_path, session_options(threads),
                                             providers=["CPUExecutionProvider"])

    def __call__(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
        outputs = self._session.run(list(layers), {IMAGE: np.ascontiguousarray(pixels[None], np.float32)})
        return dict(zip(layers, outputs))


def gram(features: np.ndarray) -> np.ndarray:
    """G = F F^T / N for features (1, C, h, w), N = h*w (resolution independent)."""
    flat = features.reshape(features.shape[1], -1).astype(np.float64)
    return (flat @ flat.T / flat.shape[1]).astype(np.float32)


@dataclass(frozen=True)
class LossWeights:
    """User-facing weights; per-layer weights multiply the global ones.

    With `normalize`, each term is divided by its target's mean square, so a term is a
    relative error and the weights mean the same for every layer, network and image.
    """

    content: float
    style: float
    tv: float
    content_layers: dict[str, float]
    style_layers: dict[str, float]
    normalize: bool = True


def _scale(target: np.ndarray, normalize: bool) -> float:
    if not normalize:
        return 1.0
    return 1.0 / max(float(np.mean(np.square(target, dtype=np.float64))), 1e-12)


def loss_inputs(extract: FeatureExtractor, content: np.ndarray, styles: Sequence[np.ndarray],
                blend: Sequence[float], weights: LossWeights) -> LossInputs:
    """Targets from the content image and a blend of style images' Grams."""
    content_features = extract(content, list(weights.content_layers))
    style_features = [extract(style, list(weights.style_layers)) for style in styles]
    style_targets = {layer: sum(share * gram(features[layer]) for features, share in zip(style_features, blend))
                     for layer in weights.style_layers}
    return LossInputs(
        content_targets=content_features,
        style_targets=style_targets,
        content_weights={layer: weights.content * w * _scale(content_features[layer], weights.normalize)
                         for layer, w in weights.content_layers.items()},
        style_weights={layer: weights.style * w * _scale(style_targets[layer], weights.normalize)
                       for layer, w in weights.style_layers.items()},
        tv_weight=weights.tv,
    )
