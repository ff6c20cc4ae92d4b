"""Colour preservation keeps the content's chroma."""

from __future__ import annotations

import numpy as np

from nst_ort.core.colors import _RGB_TO_YIQ, match_color_statistics, transfer_luminance


def _yiq(pixels):
    return np.einsum("ij,jhw->ihw", _RGB_TO_YIQ, pixels.astype(np.float64))


def test_luminance_transfer_keeps_content_chroma_and_result_luminance():
    rng = np.random.default_rng(0)
    content = rng.uniform(0.4, 0.6, (3, 16, 20)).astype(np.float32)  # muted colours: nothing leaves the gamut
    stylized = rng.uniform(0.35, 0.65, (3, 16, 20)).astype(np.float32)
    out = transfer_luminance(stylized, content)
    # within the gamut (no clipping here) chroma is the content's and luminance the result's
    np.testing.assert_allclose(_yiq(out)[1:], _yiq(content)[1:], atol=2e-3)
    np.testing.assert_allclose(_yiq(out)[0], _yiq(stylized)[0], atol=2e-3)


def test_statistics_matching_moves_mean_and_covariance():
    rng = np.random.default_rng(1)
    source = rng.uniform(0.3, 0.6, (3, 30, 30)).astype(np.float32) * np.array([1.0, 0.5, 0.2])[:, None, None]
    reference = rng.uniform(0.2, 0.7, (3, 30, 30)).astype(np.float32)
    reference[2] = 0.5 * reference[0] + 0.2
    out = match_color_statistics(source, reference)
    flat_out, flat_ref = out.reshape(3, -1), reference.reshape(3, -1)
    np.testing.assert_allclose(flat_out.mean(1), flat_ref.mean(1), atol=5e-3)
    np.testing.assert_allclose(np.cov(flat_out), np.cov(flat_ref), atol=2e-3)
