"""Recipes, weight conventions, optimisers and options: each has a measurable effect."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

import nst_ort
from nst_base.errors import NstError
from nst_base.model_store import open_model
from nst_ort.core.engines.factory import make_engine
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.optimize import OptimizerSettings, optimize
from nst_ort.options.recipes import RECIPES, SIMILARITY, as_vgg16, recipe_options
from nst_ort.core.targets import LossWeights, loss_inputs
from tests.conftest import requires_training, shared_image
from tests.tiny import reference_features, reference_gram, tiny_weights

H, W = 24, 32


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)) for _ in range(3)]


def _pixels(image):
    return np.asarray(image, np.float32).transpose(2, 0, 1) / 255


def _engine_loss(model, content, style, weights, pixels):
    inputs = loss_inputs(FeatureExtractor(str(model.features_path), 1), content, [style], [1.0], weights)
    return make_engine("auto", model, inputs, (H, W), threads=1).evaluate(pixels).terms


def test_keras_book_convention_is_the_books_formula(tiny_models_dir, images):
    model = open_model(tiny_models_dir / "vgg16")
    content, style, generated = (_pixels(image) for image in images)
    weights = LossWeights(2.5e-8, 1e-6, 0.0, {"relu5_2": 1.0}, {name: 0.2 for name in ("relu1_1", "relu3_1")},
                          convention="keras-book")
    ours = _engine_loss(model, content, style, weights, generated)
    net = tiny_weights()
    f_gen, f_con, f_sty = (reference_features(net, x) for x in (generated, content, style))
    book_content = 2.5e-8 * np.sum((f_gen["relu5_2"] - f_con["relu5_2"]) ** 2)
    book_style = 0.0
    for layer in ("relu1_1", "relu3_1"):
        s = f_sty[layer].reshape(f_sty[layer].shape[0], -1)
        c = f_gen[layer].reshape(f_gen[layer].shape[0], -1)
        book_style += (1e-6 * 0.2) * np.sum((s @ s.T - c @ c.T) ** 2) / (4.0 * 9 * (H * W) ** 2)
    assert ours["content_loss"] == pytest.approx(book_content, rel=1e-3)
    assert ours["style_loss"] == pytest.approx(book_style, rel=1e-3)


def test_tf_course_convention_is_the_courses_formula(tiny_models_dir, images):
    model = open_model(tiny_models_dir / "vgg16")
    content, style, generated = (_pixels(image) for image in images)
    weights = LossWeights(10.0, 30.0, 0.0, {"relu4_2": 1.0}, {"relu2_1": 0.3}, convention="tf-course")
    ours = _engine_loss(model, content, style, weights, generated)
    net = tiny_weights()
    f_gen, f_con, f_sty = (reference_features(net, x) for x in (generated, content, style))
    c, h, w = f_gen["relu4_2"].shape
    course_content = np.sum((f_con["relu4_2"] - f_gen["relu4_2"]) ** 2) / (4 * c * h * w)
    c, h, w = f_gen["relu2_1"].shape
    gram_s, gram_g = (reference_gram(f["relu2_1"]) * h * w for f in (f_sty, f_gen))  # unnormalised A A^T
    course_style = 0.3 * np.sum((gram_s - gram_g) ** 2) / (2 * c * h * w) ** 2
    assert ours["content_loss"] == pytest.approx(10 * course_content / 255**2, rel=1e-3)
    assert ours["style_loss"] == pytest.approx(30 * course_style / 255**4, rel=1e-3)


@pytest.mark.parametrize("method, rate", [("adam", 0.02), ("sgd", 0.1)])
def test_first_order_optimisers_descend(tiny_models_dir, images, method, rate):
    model = open_model(tiny_models_dir / "vgg16")
    content, style, _ = (_pixels(image) for image in images)
    weights = LossWeights(1.0, 10.0, 0.1, {"relu4_2": 1.0}, {"relu1_1": 1.0, "relu2_1": 1.0})
    inputs = loss_inputs(FeatureExtractor(str(model.features_path), 1), content, [style], [1.0], weights)
    engine = make_engine("auto", model, inputs, (H, W), threads=1)
    outcome = optimize(engine, content, OptimizerSettings(30, method=method, learning_rate=rate))
    assert outcome.loss < 0.7 * engine.evaluate(content).loss
    assert 0 <= outcome.image.min() and outcome.image.max() <= 1 and len(outcome.history) == 30


def test_learning_rate_decays_like_keras():
    settings = OptimizerSettings(10, method="sgd", learning_rate=100.0, lr_decay=0.96, lr_decay_steps=100)
    assert settings.method_for((3, 4, 4)).rate(0) == 100.0
    assert settings.method_for((3, 4, 4)).rate(100) == pytest.approx(96.0)
    assert settings.method_for((3, 4, 4)).rate(50) == pytest.approx(100 * 0.96**0.5)


def _run(tiny_models_dir, content, style, **options):
    defaults = dict(size=32, iterations=4, threads=1, scales=1)
    return nst_ort.stylize(content, style, models_dir=tiny_models_dir, **{**defaults, **options})


def test_same_seed_repeats_exactly(tiny_models_dir, images):
    a = _run(tiny_models_dir, images[0], images[1], init="noise", seed=7)
    b = _run(tiny_models_dir, images[0], images[1], init="noise", seed=7)
    c = _run(tiny_models_dir, images[0], images[1], init="noise", seed=8)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))


def test_blend_one_zero_equals_the_single_style(tiny_models_dir, images):
    single = _run(tiny_models_dir, images[0], images[1])
    blended = _run(tiny_models_dir, images[0], [images[1], images[2]], style_blend=(1.0, 0.0))
    mixed = _run(tiny_models_dir, images[0], [images[1], images[2]], style_blend=(0.5, 0.5))
    assert np.array_equal(np.asarray(single.image), np.asarray(blended.image))
    assert not np.array_equal(np.asarray(single.image), np.asarray(mixed.image))


def test_preserve_colors_keeps_content_chroma(tiny_models_dir, images):
    from tests.test_colors import _yiq

    result = _run(tiny_models_dir, images[0], images[1], preserve_colors="luminance", iterations=6)
    out = _yiq(_pixels(result.image))
    content = _yiq(_pixels(images[0].resize(result.image.size)))
    assert np.abs(out[1:] - content[1:]).mean() < 0.02  # chroma: the content's, up to clipping
    plain = _yiq(_pixels(_run(tiny_models_dir, images[0], images[1], iterations=6).image))
    assert np.abs(plain[1:] - content[1:]).mean() > np.abs(out[1:] - content[1:]).mean()


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_runs(tiny_models_dir, images, name):
    messages = []
    result = nst_ort.stylize(images[0], images[1], recipe=name, models_dir=tiny_models_dir, notify=messages.append,
                             size=32, iterations=3, threads=1)
    assert result.image.size == (32, 24) and result.outcome.history
    settings = result.report["settings"]
    assert settings["optimizer"] == RECIPES[name].optimizer and settings["convention"] == RECIPES[name].convention
    if RECIPES[name].net == "vgg19":  # no VGG19 exported here: falls back to VGG16 and says so
        assert settings["net"] == "vgg16" and any("using VGG16" in m for m in messages)


def test_recipe_overrides_and_presets():
    options = recipe_options("tf-course", similarity="style", iterations=7)
    assert options.iterations == 7 and options.optimizer == "adam"
    assert tuple(w for _, w in options.style_layers) == SIMILARITY["style"]
    assert as_vgg16(options).content_layers == (("relu5_3", 1.0),)
    with pytest.raises(NstError, match="unknown recipe"):
        recipe_options("picasso")
    with pytest.raises(NstError, match="--similarity"):
        recipe_options("gatys", similarity="loud")
    assert dataclasses.replace(RECIPES["gatys"]) == nst_ort.StylizeOptions()


def test_explicit_vgg19_without_export_is_an_error(tiny_models_dir, images):
    with pytest.raises(NstError, match="nst export --net vgg19"):
        _run(tiny_models_dir, images[0], images[1], net="vgg19")


@requires_training
def test_engines_give_the_same_image(tiny_models_dir, images):
    """Same seed and settings, the two engines: mean difference <= 0.5/255, max <= 8/255 (measured 0.00, 1)."""
    portable = _run(tiny_models_dir, images[0], images[1], engine="portable", iterations=10)
    training = _run(tiny_models_dir, images[0], images[1], engine="training", iterations=10)
    difference = np.abs(np.asarray(portable.image, np.float64) - np.asarray(training.image, np.float64))
    print(f"mean |portable - training| = {difference.mean():.3f}/255, max {difference.max():.0f}/255")
    assert difference.mean() <= 0.5 and difference.max() <= 8, (difference.mean(), difference.max())
    assert portable.report["final_loss"] == pytest.approx(training.report["final_loss"], rel=1e-2)


def _style_distance(model, image: np.ndarray, style: np.ndarray, layer: str = "relu1_1") -> float:
    """Relative distance of `image`'s Gram at `layer` from the style's (both (3, h, w))."""
    extract = FeatureExtractor(str(model.features_path), 1)
    mine, theirs = extract(image, [layer])[layer], extract(style, [layer])[layer]
    target = reference_gram(theirs[0].astype(np.float64))
    return float(np.linalg.norm(reference_gram(mine[0].astype(np.float64)) - target) / np.linalg.norm(target))


def test_a_mask_confines_the_style_to_its_region(tiny_models_dir, images):
    model = open_model(tiny_models_dir / "vgg16")
    smooth = np.linspace(0, 255, 2 * W)[None, :, None] * np.array([0.9, 0.6, 0.3]) + np.linspace(0, 40, 2 * H)[:, None, None]
    content = Image.fromarray(smooth.astype(np.uint8))
    mask = np.zeros((2 * H, 2 * W), np.uint8)
    mask[:, :W] = 255  # the left half takes the style
    options = dict(size=2 * W, iterations=40, style_weight=100.0)
    masked = _pixels(_run(tiny_models_dir, content, images[1], mask=[Image.fromarray(mask)], **options).image)
    everywhere = _pixels(_run(tiny_models_dir, content, images[1], **options).image)
    style = _pixels(images[1])
    left, right = slice(0, W - 4), slice(W + 4, 2 * W)  # 4 px off the seam
    inside = _style_distance(model, masked[:, :, left], style)
    outside = _style_distance(model, masked[:, :, right], style)
    assert inside < 0.5 * outside
    # the right half keeps the content; unmasked, it takes the style like the left
    original = _pixels(content)
    assert np.abs(masked[:, :, right] - original[:, :, right]).mean() < 0.4 * np.abs(masked[:, :, left] - original[:, :, left]).mean()
    assert _style_distance(model, everywhere[:, :, right], style) < 0.5 * outside


def test_bad_masks_are_one_line_errors(tiny_models_dir, images):
    black = Image.new("L", (W, H))
    with pytest.raises(NstError, match="one --mask per style"):
        _run(tiny_models_dir, images[0], [images[1], images[2]], mask=[Image.new("L", (W, H), 255)])
    with pytest.raises(NstError, match="all black"):
        _run(tiny_models_dir, images[0], images[1], mask=[black])


@pytest.mark.slow
def test_a_mask_confines_the_style_on_the_real_vgg16(real_models_dir):
    """Tübingen, Starry Night on the left half only: relu1_1..relu3_1 Gram distance to the
    style is smaller on the left than on the right, which stays near the photo."""
    content = Image.open(shared_image("content", "tubingen.jpg")).convert("RGB")
    style = Image.open(shared_image("style", "starry_night.jpg")).convert("RGB")
    width = 128
    size = (width, round(content.height * width / content.width))
    mask = np.zeros(size[::-1], np.uint8)
    mask[:, :width // 2] = 255
    result = nst_ort.stylize(content, style, mask=[Image.fromarray(mask)], models_dir=real_models_dir,
                             size=width, iterations=60, scales=1, threads=2)
    model = open_model(real_models_dir / "vgg16")
    out, photo = _pixels(result.image), _pixels(content.resize(result.image.size))
    painting = _pixels(style.resize(result.image.size))
    left, right = slice(0, width // 2 - 8), slice(width // 2 + 8, width)
    for layer in ("relu1_1", "relu2_1", "relu3_1"):
        inside = _style_distance(model, out[:, :, left], painting, layer)
        outside = _style_distance(model, out[:, :, right], painting, layer)
        assert inside < 0.7 * outside, layer
    assert np.abs(out - photo)[:, :, right].mean() < 0.5 * np.abs(out - photo)[:, :, left].mean()
