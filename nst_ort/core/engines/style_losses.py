"""Style losses computed from a layer's whole-image statistics, and their gradient seeds.

Both losses read only sums over the layer's cells, so they split exactly over tiles. With
weights m_n (the region mask at the layer's resolution, 1 without masks; S = sum m_n^2):
  second moment  G  = sum m_n^2 f_n f_n^T / S      mean  mu = sum m_n^2 f_n / S
  gram   w |G - A|_F^2 / C^2                          dL/df_n = m_n^2 Q f_n,  Q = 4 w (G - A) / (C^2 S)
  w2     w (|mu - mu_s|^2 + tr(Cov + Cov_s - 2 (R Cov R)^1/2)),   R = Cov_s^1/2
         the Wasserstein-2 distance between the Gaussians fitted to the features, both
         covariances regularised by eps I, eps = EPS x the painting's mean square feature
         tr(A)/C: Cov is singular wherever a layer has fewer cells than channels (relu5_1 at
         a coarse level) or dead channels, and there the unregularised root's gradient is
         unbounded; with eps, |D| stays about sqrt(1 / EPS).
         dL/dCov = w D, D = I - R (R Cov R)^-1/2 R;  dL/dmu = 2 w (mu - mu_s)
         dL/df_n = m_n^2 (Q (f_n - mu) + b),  Q = 2 w D / S,  b = dL/dmu / S
         (centred: Q f_n and Q mu are large and nearly cancel where D is, in float32)
The engines turn (Q, mu, b) into the pixel gradient (nst_graphs/tile_graph.py). Statistics
are accumulated and the losses computed in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


EPS = 1e-2  # covariance regularisation relative to the painting's mean square feature


@dataclass(frozen=True)
class LayerSums:
    """One style layer's sums over the whole image, per region k (K = 1 without masks)."""

    second: np.ndarray  # (K, C, C) sum m^2 f f^T
    first: np.ndarray | None  # (K, C) sum m^2 f (only the losses that use the mean)
    norms: np.ndarray  # (K,) S = sum m^2


@dataclass(frozen=True)
class StyleSeed:
    """A layer's loss and the coefficients of its gradient: dL/df_n = m_n^2 (Q (f_n - c) + b)."""

    loss: float
    matrix: np.ndarray  # Q, (K, C, C) float32
    center: np.ndarray | None = None  # c, (K, C) float32 (None: zero)
    bias: np.ndarray | None = None  # b, (K, C) float32 (None: zero)


def _symmetric_function(matrix: np.ndarray, function) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * function(values)) @ vectors.T


@dataclass(frozen=True)
class GaussianTarget:
    """The painting's mean and regularised covariance at one layer, with the covariance's root."""

    mean: np.ndarray  # (C,)
    covariance: np.ndarray  # (C, C), eps I included
    root: np.ndarray  # covariance ** 1/2
    eps: float

    @classmethod
    def of(cls, second: np.ndarray, mean: np.ndarray) -> GaussianTarget:
        """From the painting's second moment A = E f f^T and mean E f."""
        second, mean = np.asarray(second, np.float64), np.asarray(mean, np.float64)
        covariance = second - np.outer(mean, mean)
        covariance = (covariance + covariance.T) / 2
        eps = EPS * max(float(np.trace(second)) / len(mean), 1e-12)
        covariance += eps * np.eye(len(mean))
        root = _symmetric_function(covariance, lambda v: np.sqrt(np.maximum(v, 0.0)))
        return cls(mean, covariance, root, eps)


def gram_seed(sums: LayerSums, targets: np.ndarray, weights: np.ndarray) -> StyleSeed:
    """w |G - A|^2 / C^2 per region, summed; targets (K, C, C), weights (K,)."""
    channels = sums.second.shape[-1]
    norms = sums.norms.reshape(-1, 1, 1)
    weights = np.reshape(np.asarray(weights, np.float64), (-1, 1, 1))
    error = sums.second / norms - np.reshape(targets, sums.second.shape)
    loss = float(np.sum(weights * np.square(error))) / channels**2
    return StyleSeed(loss, (4.0 * weights / (channels**2 * norms) * error).astype(np.float32))


def w2_seed(sums: LayerSums, targets: list[GaussianTarget], weights: np.ndarray) -> StyleSeed:
    """The Gaussian Wasserstein-2 loss per region, summed; one target and weight per region."""
    losses, matrices, centers, biases = 0.0, [], [], []
    identity = np.eye(sums.second.shape[-1])
    for second, first, norm, target, weight in zip(sums.second, sums.first, sums.norms, targets,
                                                   np.ravel(np.asarray(weights, np.float64))):
        mean = first / norm
        covariance = second / norm - np.outer(mean, mean)
        covariance = (covariance + covariance.T) / 2 + target.eps * identity
        crossed = target.root @ covariance @ target.root
        values, vectors = np.linalg.eigh((crossed + crossed.T) / 2)
        values = np.maximum(values, target.eps**2)
        mean_error = mean - target.mean
        losses += weight * (float(mean_error @ mean_error) + float(np.trace(covariance))
                            + float(np.trace(target.covariance)) - 2.0 * float(np.sum(np.sqrt(values))))
        inverse_root = (vectors / np.sqrt(values)) @ vectors.T
        slope = weight * (identity - target.root @ inverse_root @ target.root)  # dL/dCov
        matrices.append(2.0 * slope / norm)
        centers.append(mean)
        biases.append(2.0 * weight * mean_error / norm)
    return StyleSeed(losses, *(np.asarray(values, np.float32) for values in (matrices, centers, biases)))
