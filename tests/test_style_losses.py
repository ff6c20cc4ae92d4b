"""The W2 style loss: its value against an independent float64 numpy reference (scipy's sqrtm),
its gradient against central differences of that reference, tiled against whole-image, masks
and several styles, and a W2 run that stops and resumes to the uninterrupted picture."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import scipy.linalg
from PIL import Image

from nst_base.model_store import open_model
from nst_ort.core import levels as transfer
from nst_ort.core.engines.factory import make_engine
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.engines.style_losses import EPS, GaussianTarget, LayerSums, w2_seed
from nst_ort.core.engines.tiles import tile_layout
from nst_ort.jobs.run_folder import Checkpointer, RunFolder
from nst_ort.core.targets import LossWeights, loss_inputs
from nst_ort.core.levels import StylizeOptions, stylize
from tests.helpers import one_line_error, nst
from tests.test_engines import HEIGHT, WIDTH, soft_masks
from tests.test_resume import _InterruptAtEvaluation
from tests.test_tiled import _assert_equal_to_untiled, _problem
from tests.tiny import random_images, reference_features, tiny_weights, write_tiny_model

LAYERS = LossWeights(content=1.0, style=3.0, tv=0.5, content_layers={"relu4_2": 1.0, "relu2_2": 0.5},
                     style_layers={"relu1_1": 1.0, "relu2_1": 0.7, "relu3_1": 1.0, "relu4_1": 0.4, "relu5_1": 1.0},
                     style_loss="w2")


def reference_w2(features: np.ndarray, mask: np.ndarray, second: np.ndarray, mean: np.ndarray) -> float:
    """W2^2 between the Gaussians of features (C, h, w) weighted by mask^2 and of the painting's
    moments, both covariances + eps I, with scipy's matrix square root."""
    weights = (mask.astype(np.float64) ** 2).ravel()
    flat = features.reshape(features.shape[0], -1)
    mu = flat @ weights / weights.sum()
    covariance = (flat * weights) @ flat.T / weights.sum() - np.outer(mu, mu)
    target = np.asarray(second, np.float64) - np.outer(mean, mean)
    eps = EPS * max(np.trace(second) / len(mean), 1e-12)
    covariance, target = covariance + eps * np.eye(len(mu)), target + eps * np.eye(len(mu))
    root = scipy.linalg.sqrtm(target)
    cross = np.real(scipy.linalg.sqrtm(root @ covariance @ root))
    return float(np.sum((mu - mean) ** 2) + np.trace(covariance) + np.trace(target) - 2 * np.trace(cross))


def reference_loss(pool: str, inputs, pixels: np.ndarray) -> dict:
    feats = reference_features(tiny_weights(), pixels, pool)
    content = sum(inputs.content_weights[k] * np.mean((feats[k] - p[0]) ** 2) for k, p in inputs.content_targets.items())
    style = 0.0
    for layer, targets in inputs.style_targets.items():
        masks = inputs.style_masks.get(layer, np.ones((1, 1, *feats[layer].shape[1:])))
        weights = np.ravel(inputs.style_weights[layer])
        seconds, means = np.reshape(targets, (-1, *targets.shape[-2:])), np.reshape(inputs.style_means[layer],
                                                                                       (len(weights), -1))
        style += sum(w * reference_w2(feats[layer], m[0], a, mu) for w, m, a, mu in zip(weights, masks, seconds, means))
    x = pixels.astype(np.float64)
    tv = inputs.tv_weight * (np.sum(np.diff(x, axis=1) ** 2) + np.sum(np.diff(x, axis=2) ** 2)) / x.size
    return {"loss": content + style + tv, "content_loss": content, "style_loss": style, "tv_loss": tv}


@pytest.fixture(scope="module", params=["max", "avg", "max+masks", "max+blend"])
def setup(request, tmp_path_factory):
    pool, kind = (request.param.split("+") + [""])[:2]
    model = write_tiny_model(tmp_path_factory.mktemp(f"w2-{pool}"), pool=pool)
    rng = np.random.default_rng(1)
    content, style, other = (rng.uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32) for _ in range(3))
    extract = FeatureExtractor(str(model.features_path), threads=1)
    if kind == "masks":  # two paintings, each in its own region
        inputs = loss_inputs(extract, content, [style, other], [1.0, 0.6], LAYERS, soft_masks(rng))
    elif kind == "blend":  # two paintings blended everywhere
        inputs = loss_inputs(extract, content, [style, other], [0.7, 0.3], LAYERS)
    else:
        inputs = loss_inputs(extract, content, [style], [1.0], LAYERS)
    return pool, model, inputs


def test_loss_terms_match_the_numpy_reference(setup):
    pool, model, inputs = setup
    pixels = np.random.default_rng(2).uniform(0, 1, (3, HEIGHT, WIDTH)).astype(np.float32)
    result = make_engine("portable", model, inputs, (HEIGHT, WIDTH), threads=1).evaluate(pixels)
    ref = reference_loss(pool, inputs, pixels)
    for name, value in ref.items():
        assert result.terms[name] == pytest.approx(value, rel=1e-4, abs=1e-7), name
    assert ref["style_loss"] > 0


def test_gradient_matches_central_differences(setup):
    pool, model, inputs = setup
    engine = make_engine("portable", model, inputs, (HEIGHT, WIDTH), threads=1)
    rng = np.random.default_rng(3)
    pixels = rng.uniform(0.1, 0.9, (3, HEIGHT, WIDTH)).astype(np.float32)
    loss, grad = engine.loss_and_grad(pixels)
    step = 1e-6
    directions = [rng.standard_normal(pixels.shape) for _ in range(4)]
    for index in [(0, 0, 0), (1, 7, 5), (2, HEIGHT - 1, WIDTH - 1)]:
        unit = np.zeros(pixels.shape)
        unit[index] = 1.0
        directions.append(unit)
    base = pixels.astype(np.float64)
    for direction in directions:
        numeric = (reference_loss(pool, inputs, base + step * direction)["loss"]
                   - reference_loss(pool, inputs, base - step * direction)["loss"]) / (2 * step)
        analytic = float(np.sum(grad.astype(np.float64) * direction))
        assert analytic == pytest.approx(numeric, rel=2e-4, abs=1e-7 * abs(loss))


def test_w2_seed_is_the_derivative_of_its_loss():
    """The statistics-level rule alone: dL/df from (Q, b) against central differences in float64."""
    rng = np.random.default_rng(7)
    channels, cells = 5, 3  # fewer cells than channels: a singular covariance, held by eps
    features = rng.uniform(0, 2, (channels, cells))
    mask = rng.uniform(0.2, 1, cells)
    painting = rng.uniform(0, 2, (channels, 40))
    target = GaussianTarget.of(painting @ painting.T / 40, painting.mean(axis=1))

    def seed(f):
        weighted = f * mask**2
        sums = LayerSums((weighted @ f.T)[None], weighted.sum(axis=1)[None], np.array([np.sum(mask**2)]))
        return w2_seed(sums, [target], np.array([0.8]))

    base = seed(features)
    analytic = mask**2 * (base.matrix[0].astype(np.float64) @ (features - base.center[0][:, None].astype(np.float64))
                          + base.bias[0][:, None])
    step = 1e-6
    for index in np.ndindex(features.shape):
        moved = np.zeros_like(features)
        moved[index] = step
        numeric = (seed(features + moved).loss - seed(features - moved).loss) / (2 * step)
        assert analytic[index] == pytest.approx(numeric, rel=1e-3, abs=1e-6)


def test_the_loss_is_zero_on_the_paintings_own_statistics():
    painting = np.random.default_rng(8).uniform(0, 2, (6, 50))
    target = GaussianTarget.of(painting @ painting.T / 50, painting.mean(axis=1))
    sums = LayerSums((painting @ painting.T)[None], painting.sum(axis=1)[None], np.array([50.0]))
    assert abs(w2_seed(sums, [target], np.array([1.0])).loss) < 1e-9 * np.trace(target.covariance)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("core", [32, 64, 96])
def test_tiled_equals_whole_image(tmp_path, masked, core):
    model = write_tiny_model(tmp_path / "vgg16")
    inputs, pixels = _problem(model, 150, 203, masked, seed=4, weights=LAYERS)
    _assert_equal_to_untiled(model, inputs, pixels, tile_layout(150, 203, core, "vgg16", inputs.layers.all))


def test_a_w2_run_resumes_to_the_uninterrupted_picture(tiny_models_dir, tmp_path, monkeypatch):
    model = open_model(tiny_models_dir / "vgg16")
    rng = np.random.default_rng(3)
    content, style = (Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)) for size in ((40, 56, 3),
                                                                                             (48, 48, 3)))
    options = StylizeOptions(size=56, iterations=5, scales=2, threads=1, style_loss="w2",
                             style_layers=(("relu1_1", 1.0), ("relu2_1", 1.0), ("relu3_1", 1.0)))
    whole = stylize(content, [style], model, options)
    assert whole.report["settings"]["style_loss"] == "w2"
    gram = stylize(content, [style], model, replace(options, style_loss="gram"))
    assert not np.array_equal(np.asarray(gram.image), np.asarray(whole.image))
    folder = RunFolder(tmp_path / "run")
    with monkeypatch.context() as patch:
        patch.setattr(transfer, "make_engine", _InterruptAtEvaluation(transfer.make_engine, 7))
        stopped = stylize(content, [style], model, options, checkpoints=Checkpointer(folder, {"test": 1}, every=3600))
    assert stopped.outcome.interrupted
    resumed = stylize(content, [style], model, options, checkpoints=Checkpointer(folder, {"test": 1}, every=3600),
                      resume=folder.read())
    assert [e["loss"] for e in resumed.report["iterations"]] == [e["loss"] for e in whole.report["iterations"]]
    np.testing.assert_array_equal(np.asarray(resumed.image), np.asarray(whole.image))


@pytest.mark.parametrize("flags, fragment", [
    (["--engine", "training"], "runs on the CPU with the portable engine"),
    (["--provider", "CUDAExecutionProvider"], "runs on the CPU with the portable engine"),
    (["--recipe", "keras-book"], "defines Gram losses only"),
])
def test_w2_where_it_cannot_run_is_one_line(tiny_models_dir, tmp_path, flags, fragment):
    images = random_images(tmp_path, {"content": (40, 32), "style": (32, 32)})
    result = nst("stylize", images["content"], images["style"], "-o", tmp_path / "out.png", "--style-loss", "w2",
                 *flags, models_dir=tiny_models_dir)
    one_line_error(result, fragment)
    assert not (tmp_path / "out.png").exists()


def test_nst_stylize_with_w2_end_to_end(tiny_models_dir, tmp_path):
    images = random_images(tmp_path, {"content": (48, 40), "style": (32, 32)})
    result = nst("stylize", images["content"], images["style"], "-o", tmp_path / "out.png", "--style-loss", "w2",
                 "--size", 48, "--iterations", 3, "--tile", 32, "--report", tmp_path / "report.json",
                 models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["settings"]["style_loss"] == "w2" and "tiles" in report["levels"][-1]["plan"]
    assert Image.open(tmp_path / "out.png").size == (48, 40)
