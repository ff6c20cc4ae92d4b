"""Keeping the content's colours: luminance-only transfer and colour-statistics matching."""

from __future__ import annotations

import numpy as np

# ITU-R BT.601 RGB -> YIQ (Y: luminance; I, Q: chroma)
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    return np.einsum("ij,jhw->ihw", matrix, pixels.astype(np.float64))


def transfer_luminance(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylised image's luminance with the content's chroma (YIQ), both (3, H, W) in [0, 1]."""
    yiq = _apply(_RGB_TO_YIQ, content)
    yiq[0] = _apply(_RGB_TO_YIQ, stylized)[0]
    return np.clip(_apply(_YIQ_TO_RGB, yiq), 0.0, 1.0).astype(np.float32)


def match_color_statistics(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`source` recoloured so its RGB mean and covariance equal `reference`'s.

    x' = A (x - mu_s) + mu_r with A = C_r^1/2 C_s^-1/2 (symmetric square roots), the linear
    colour transfer used to give a style image the content's palette.
    """
    def stats(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = pixels.reshape(3, -1).astype(np.float64)
        return flat.mean(axis=1), np.cov(flat) + 1e-5 * np.eye(3)

    def sqrtm(cov: np.ndarray, power: float) -> np.ndarray:
        values, vectors = np.linalg.eigh(cov)
        return vectors @ np.diag(np.maximum(values, 1e-12) ** power) @ vectors.T

    mean_s, cov_s = stats(source)
    mean_r, cov_r = stats(reference)
    transform = sqrtm(cov_r, 0.5) @ sqrtm(cov_s, -0.5)
    flat = source.reshape(3, -1).astype(np.float64)
    out = transform @ (flat - mean_s[:, None]) + mean_r[:, None]
    return np.clip(out.reshape(source.shape), 0.0, 1.0).astype(np.float32)
