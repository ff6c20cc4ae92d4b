"""Every engine's loss equals the numpy reference and its gradient equals finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from nst_ort.core.engines.factory import available_engines, make_engine
from nst_ort.core.engines.features import FeatureExtractor, gram
from nst_ort.io.masks import downsample_to
from nst_ort.core.targets import LossWeights, loss_inputs
from tests.tiny import reference_features, reference_loss, tiny_weights, write_tiny_model

HEIGHT, WIDTH = 20, 18  # odd sizes after pooling exercise the floor in every pool
LAYERS = LossWeights(content=1.0, style=3.0, tv=0.5,
                     content_layers={"relu4_2": 1.0, "relu2_2": 0.5},
                     style_layers={"relu1_1": 1.0, "relu2_1": 0.7, "relu3_1": 1.0, "relu4_1": 0.4, "relu5_1": 1.0})


def soft_masks(rng) -> list[np.ndarray]:
    """Two overlapping soft regions (left and right, a gray seam) and a sprinkle of zeros."""
    ramp = np.clip(np.linspace(-0.5, 1.5, WIDTH), 0, 1)[None].repeat(HEIGHT, 0)
    left = (1 - ramp) * (rng.uniform(0, 1, (HEIGHT, WIDTH)) > 0.1)
    return [left.astype(np.float32), ramp.astype(np.float32)]


@pytest.fixture(scope="module", params=["max", "avg", "max+masks"])
def setup(request, tmp_path_factory):
    pool, masked = request.param.split("+")[0], request.param.endswith("masks")
    model = write_tiny_model(tmp_path_factory.mktemp(f"tiny-{pool}"), pool=pool)
    rng = np.random.default_rng(1)
    content, style, other = (rng.uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32) for _ in range(3))
    extract = FeatureExtractor(str(model.features_path), threads=1)
    if masked:  # two styles, each in its own region, weighted 1 and 0.6
        inputs = loss_inputs(extract, content, [style, other], [1.0, 0.6], LAYERS, soft_masks(rng))
    else:
        inputs = loss_inputs(extract, content, [style], [1.0], LAYERS)
    return pool, model, inputs


def _reference(pool, inputs, pixels):
    return reference_loss(tiny_weights(), pixels, inputs.content_targets, inputs.style_targets,
                          inputs.content_weights, inputs.style_weights, inputs.tv_weight, pool, inputs.style_masks)


def test_features_match_numpy_reference(setup):
    pool, model, _ = setup
    pixels = np.random.default_rng(5).uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32)
    ours = FeatureExtractor(str(model.features_path), threads=1)(pixels, ["relu1_2", "relu3_3", "relu5_3"])
    ref = reference_features(tiny_weights(), pixels, pool)
    for name, value in ours.items():
        np.testing.assert_allclose(value[0], ref[name], rtol=1e-4, atol=1e-4 * np.abs(ref[name]).max())


def test_gram_matches_definition():
    f = np.random.default_rng(0).standard_normal((1, 5, 4, 3)).astype(np.float32)
    flat = f.reshape(5, 12).astype(np.float64)
    np.testing.assert_allclose(gram(f), flat @ flat.T / 12, rtol=1e-5)


@pytest.mark.parametrize("engine_name", available_engines())
def test_loss_terms_match_numpy_reference(setup, engine_name):
    pool, model, inputs = setup
    engine = make_engine(engine_name, model, inputs, (HEIGHT, WIDTH), threads=1)
    pixels = np.random.default_rng(2).uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32)
    result = engine.evaluate(pixels)
    ref = _reference(pool, inputs, pixels)
    for name, value in ref.items():
        assert result.terms[name] == pytest.approx(value, rel=1e-4, abs=1e-7), name
    assert result.loss == pytest.approx(ref["loss"], rel=1e-4)
    assert min(ref["content_loss"], ref["style_loss"], ref["tv_loss"]) > 0  # every term is exercised


@pytest.mark.parametrize("engine_name", available_engines())
def test_gradient_matches_central_differences(setup, engine_name):
    pool, model, inputs = setup
    engine = make_engine(engine_name, model, inputs, (HEIGHT, WIDTH), threads=1)
    rng = np.random.default_rng(3)
    pixels = rng.uniform(0.1, 0.9, (3, HEIGHT, WIDTH)).astype(np.float32)
    loss, grad = engine.loss_and_grad(pixels)
    assert grad.shape == pixels.shape and grad.dtype == np.float32
    # central differences of the float64 reference along random directions and single pixels
    step = 1e-6  # small enough not to cross relu or max-pool switches
    directions = [rng.standard_normal(pixels.shape) for _ in range(4)]
    for index in [(0, 0, 0), (1, 7, 5), (2, HEIGHT - 1, WIDTH - 1), (1, 10, 0)]:
        unit = np.zeros(pixels.shape)
        unit[index] = 1.0
        directions.append(unit)
    base = pixels.astype(np.float64)
    for direction in directions:
        plus = _reference(pool, inputs, base + step * direction)["loss"]
        minus = _reference(pool, inputs, base - step * direction)["loss"]
        numeric = (plus - minus) / (2 * step)
        analytic = float(np.sum(grad.astype(np.float64) * direction))
        assert analytic == pytest.approx(numeric, rel=2e-4, abs=1e-7 * abs(loss)), direction.shape


@pytest.mark.parametrize("engine_name", available_engines())
def test_repeated_evaluations_do_not_accumulate(setup, engine_name):
    pool, model, inputs = setup
    engine = make_engine(engine_name, model, inputs, (HEIGHT, WIDTH), threads=1)
    pixels = np.random.default_rng(4).uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32)
    first = engine.evaluate(pixels)
    engine.evaluate(np.clip(pixels + 0.1, 0, 1))
    again = engine.evaluate(pixels)
    np.testing.assert_allclose(again.grad, first.grad, rtol=1e-5, atol=1e-8)
    assert again.loss == pytest.approx(first.loss, rel=1e-6)


def test_a_mask_of_ones_is_the_unmasked_loss(tmp_path):
    model = write_tiny_model(tmp_path / "tiny")
    rng = np.random.default_rng(7)
    content, style = (rng.uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32) for _ in range(2))
    extract = FeatureExtractor(str(model.features_path), threads=1)
    plain = loss_inputs(extract, content, [style], [1.0], LAYERS)
    masked = loss_inputs(extract, content, [style], [1.0], LAYERS, [np.ones((HEIGHT, WIDTH), np.float32)])
    assert masked.layers.regions == 1 and plain.layers.regions == 0
    pixels = rng.uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32)
    for name in available_engines():
        expected = make_engine(name, model, plain, (HEIGHT, WIDTH), threads=1).evaluate(pixels)
        result = make_engine(name, model, masked, (HEIGHT, WIDTH), threads=1).evaluate(pixels)
        assert result.loss == pytest.approx(expected.loss, rel=1e-5)
        np.testing.assert_allclose(result.grad, expected.grad, rtol=1e-4, atol=1e-6 * np.abs(expected.grad).max())


def test_masks_pool_like_the_network():
    mask = np.arange(7 * 9, dtype=np.float32).reshape(7, 9)
    np.testing.assert_allclose(downsample_to(mask, (3, 4)), mask[:6, :8].reshape(3, 2, 4, 2).mean(axis=(1, 3)))
    assert downsample_to(mask, (1, 2)).shape == (1, 2)
    with pytest.raises(ValueError):
        downsample_to(mask, (5, 5))
