"""The features model on an onnxruntime session: the relu activations and Grams of an image
(the loss targets, nst_ort/core/targets.py; the tiled engine's first pass)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from nst_graphs.features import IMAGE
from nst_ort.platform.sessions import session_options, shrink_arena_options


class FeatureExtractor:
    """Runs the exported features model and returns the requested relu activations."""

    def __init__(self, features_path: str, threads: int = 0) -> None:
        self._session = ort.InferenceSession(features_path, session_options(threads, shared_arena=True),
                                             providers=["CPUExecutionProvider"])

    def __call__(self, pixels: np.ndarray, layers: Sequence[str], release: bool = False) -> dict[str, np.ndarray]:
        """With `release`, the arena's free regions go back to the system after the run (targets:
        one large run, then the next image's or the engine's; not the tiled engine's tile after tile)."""
        outputs = self._session.run(list(layers), {IMAGE: np.ascontiguousarray(pixels[None], np.float32)},
                                    shrink_arena_options() if release else None)
        return dict(zip(layers, outputs))

    def release_unused_memory(self) -> None:
        """Return the process's CPU arena's free regions to the system (a tiny run that shrinks it)."""
        first = self._session.get_outputs()[0].name
        self._session.run([first], {IMAGE: np.zeros((1, 3, 16, 16), np.float32)}, shrink_arena_options())

    def maps(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
        """The activations (1, C, h, w) of `layers` for an image (3, H, W)."""
        return self(pixels, layers, release=True)

    def grams(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, np.ndarray]:
        """G = F F^T / N of `layers` for an image (3, H, W)."""
        return {layer: second for layer, (second, _) in self.moments(pixels, layers).items()}

    def moments(self, pixels: np.ndarray, layers: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(G, mean over the cells) of `layers` for an image (3, H, W)."""
        outputs = self(pixels, layers, release=True)
        moments = {}
        for layer in layers:
            features = outputs.pop(layer)  # each layer's maps freed once used
            moments[layer] = (gram(features), features[0].reshape(features.shape[1], -1).mean(axis=1, dtype=np.float64))
        return moments


GRAM_CHUNK = 1 << 16  # cells per float32 product; the products are summed in float64


def gram(features: np.ndarray) -> np.ndarray:
    """G = F F^T / N for features (1, C, h, w), N = h*w (resolution independent), without a
    float64 copy of the maps: float32 products of GRAM_CHUNK cells summed in float64."""
    flat = features.reshape(features.shape[1], -1)
    total = np.zeros((flat.shape[0], flat.shape[0]))
    for start in range(0, flat.shape[1], GRAM_CHUNK):
        chunk = flat[:, start:start + GRAM_CHUNK]
        total += chunk @ chunk.T
    return (total / flat.shape[1]).astype(np.float32)
