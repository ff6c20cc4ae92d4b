"""bench/quality.py's metric against the numpy reference forward of a tiny net."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.quality import CONTENT_LAYER, STYLE_LAYERS, QualityMeter, mean_abs_difference
from nst_ort.io.images import fit_long_side, to_array
from tests.tiny import reference_features, reference_gram, tiny_weights


def _image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def meter(tiny_models_dir) -> QualityMeter:
    return QualityMeter(tiny_models_dir / "vgg16" / "features.onnx", threads=1)


def test_metric_matches_the_reference_formulas(meter):
    result, content, style = _image(40, 32, 0), _image(60, 48, 1), _image(50, 70, 2)
    quality = meter.measure(result, content, style)
    weights = tiny_weights()
    mine = reference_features(weights, to_array(result).astype(np.float64))
    photo = reference_features(weights, to_array(content, result.size).astype(np.float64))[CONTENT_LAYER]
    painting = reference_features(weights, to_array(style, fit_long_side(style.size, 40)).astype(np.float64))
    content_rel = np.sum((mine[CONTENT_LAYER] - photo) ** 2) / np.sum(photo ** 2)
    per_layer = [np.sum((reference_gram(mine[k]) - reference_gram(painting[k])) ** 2)
                 / np.sum(reference_gram(painting[k]) ** 2) for k in STYLE_LAYERS]
    assert quality.content_rel == pytest.approx(content_rel, rel=1e-4)
    assert quality.style_rel_layers == pytest.approx(per_layer, rel=1e-4)
    assert quality.style_rel == pytest.approx(np.mean(per_layer), rel=1e-4)


def test_the_photo_itself_has_no_content_error_and_the_painting_no_style_error(meter):
    photo, painting = _image(48, 36, 3), _image(48, 36, 4)
    assert meter.measure(photo, photo, painting).content_rel == pytest.approx(0, abs=1e-12)
    assert meter.measure(painting, photo, painting).style_rel == pytest.approx(0, abs=1e-9)


def test_mean_abs_difference_at_128_px():
    a = Image.new("RGB", (512, 384), (0, 0, 0))
    assert mean_abs_difference(a, a) == 0
    assert mean_abs_difference(a, Image.new("RGB", (1024, 768), (255, 255, 255))) == pytest.approx(1.0)


def test_the_fair_measures_are_zero_or_one_on_identical_images_and_grow_apart():
    from bench.quality import colour_distance, edge_ssim, sliced_wasserstein

    rng = np.random.default_rng(0)
    photo = rng.uniform(0, 1, (3, 40, 50))
    assert edge_ssim(photo, photo) == pytest.approx(1.0)
    assert edge_ssim(rng.uniform(0, 1, (3, 40, 50)), photo) < 0.5
    assert colour_distance(photo, photo) == pytest.approx(0.0, abs=1e-6)
    assert colour_distance(photo * 0.3, photo) > 0.5
    features = rng.standard_normal((8, 500))
    assert sliced_wasserstein(features, features, seed=1) == pytest.approx(0.0, abs=1e-12)
    nearer, farther = (sliced_wasserstein(features * scale, features, seed=1) for scale in (1.1, 2.0))
    assert 0 < nearer < farther
    assert sliced_wasserstein(features[:, :250], features, seed=1) < 0.2  # half the samples, the same distribution


def _loss_rows() -> list[dict]:
    """Two pairs, two losses, three weights: content_rel grows with the weight; w2 needs twice
    gram's weight for the same content_rel, with a lower swd and a higher edge_ssim there."""
    rows = []
    for pair, offset in (("a_x_b", 0.0), ("c_x_d", 0.1)):
        for loss, reach in (("gram", 1.0), ("w2", 2.0)):
            for weight in (0.5, 1.5, 4.5):
                level = offset + 0.1 * np.log2(weight / reach * 4)
                rows.append({"pair": pair, "loss": loss, "style_weight": weight, "content_rel": level,
                             "style_rel": 1.0 - level, "swd": 0.3 - level - (0.05 if loss == "w2" else 0),
                             "colour": 0.4, "edge_ssim": 0.5 - level + (0.02 if loss == "w2" else 0)})
    return rows


def test_losses_are_compared_at_the_gram_defaults_content_error():
    from bench.quality import losses_table, matched, strength_calibration
    from nst_ort.core.targets import STYLE_LOSS_STRENGTH

    rows = _loss_rows()
    table = {(row["pair"], row["loss"]): row for row in matched(rows)}
    for pair in ("a_x_b", "c_x_d"):
        gram, w2 = table[pair, "gram"], table[pair, "w2"]
        assert w2["content_rel"] == gram["content_rel"]
        # linear interpolation in content_rel between the w2 runs at 1.5 and 4.5
        assert w2["swd"] == pytest.approx(gram["swd"] - 0.05)
        assert w2["edge_ssim"] == pytest.approx(gram["edge_ssim"] + 0.02)
    strength = strength_calibration(rows)
    # content_rel is linear in log weight, so w2 reaches the level at exactly twice the weight
    assert strength["w2"]["weights"] == pytest.approx({"a_x_b": 3.0, "c_x_d": 3.0})
    assert strength["w2"]["suggested_strength"] == pytest.approx(2 * STYLE_LOSS_STRENGTH["w2"])
    assert strength["gram"]["suggested_strength"] == pytest.approx(1.0)
    block = losses_table({"size": 256, "iterations": 100, "rows": rows, "matched": matched(rows),
                          "strength": strength})
    assert "w2 better than gram: edge_ssim on 2 of 2 pairs, swd on 2 of 2 pairs, colour on 0 of 2 pairs." in block
    assert "quality/losses_a_x_b.jpg" in block and "quality/losses_swd_256.png" in block


def test_a_loss_whose_curve_misses_the_level_is_left_unmatched():
    from bench.quality import matched, strength_calibration

    rows = [row for row in _loss_rows() if not (row["loss"] == "w2" and row["style_weight"] > 1)]
    w2 = [row for row in matched(rows) if row["loss"] == "w2"]
    assert w2 and all("swd" not in row for row in w2)
    assert "w2" not in strength_calibration(rows)
