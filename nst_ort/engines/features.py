"""The features model on an onnxruntime session: the relu activations and Grams of an image
(the loss targets, nst_ort/targets.py; the tiled engine's first pass)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from nst_graphs.features import IMAGE
from nst_ort.session import session_options, shrink_arena_options


class FeatureExtractor:
    """Runs the exported features model and returns the requested relu activations."""

    def __init__(self, features_path: str, threads: int = 0) -> None:
        self._session = ort.InferenceSession(features_path, session_options(threads, shared_arena=True),
                                             providers=["CPUExecutionProvider"])

    def __call__(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
        outputs = self._session.run(list(layers), {IMAGE: np.ascontiguousarray(pixels[None], np.float32)})
        return dict(zip(layers, outputs))

    def release_unused_memory(self) -> None:
        """Return the process's CPU arena's free regions to the system (a tiny run that shrinks it)."""
        first = self._session.get_outputs()[0].name
        self._session.run([first], {IMAGE: np.zeros((1, 3, 16, 16), np.float32)}, shrink_arena_options())

    def maps(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
        """The activations (1, C, h, w) of `layers` for an image (3, H, W)."""
        return self(pixels, layers)

    def grams(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
        """G = F F^T / N of `layers` for an image (3, H, W)."""
        return {layer: gram(features) for layer, features in self(pixels, layers).items()}

    def moments(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(G, mean over the cells) of `layers` for an image (3, H, W)."""
        return {layer: (gram(features), features[0].reshape(features.shape[1], -1).mean(axis=1, dtype=np.float64))
                for layer, features in self(pixels, layers).items()}


def gram(features: np.ndarray) -> np.ndarray:
    """G = F F^T / N for features (1, C, h, w), N = h*w (resolution independent)."""
    flat = features.reshape(features.shape[1], -1).astype(np.float64)
    return (flat @ flat.T / flat.shape[1]).astype(np.float32)
