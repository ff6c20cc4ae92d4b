"""Exact tiled evaluation: tile by tile, the loss and gradient of the whole image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_base.errors import NstError
from nst_base.model_store import open_model
from nst_ort.core.engines.factory import make_engine
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.engines.tiled import TiledEngine, TiledFeatures, total_variation
from nst_ort.core.engines.tiles import Tile, TileLayout, _spans, halo_and_grid, tile_layout
from nst_ort.core.targets import LossWeights, loss_inputs
from nst_ort.core.levels import StylizeOptions, stylize
from tests.conftest import shared_image
from tests.tiny import write_tiny_model

GATYS = LossWeights(1.0, 10.0, 0.5, {"relu4_2": 1.0}, {name: 1.0 for name in
                                                        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")})


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiled-models")
    return {pool: write_tiny_model(folder / f"vgg16-{pool}", pool=pool) for pool in ("max", "avg")}


def _problem(model, height: int, width: int, masked: bool = False, seed: int = 0, weights: LossWeights = GATYS):
    rng = np.random.default_rng(seed)
    content = rng.uniform(0, 1, (3, height, width)).astype(np.float32)
    styles = [rng.uniform(0, 1, (3, 90, 70)).astype(np.float32), rng.uniform(0, 1, (3, 64, 64)).astype(np.float32)]
    masks = []
    if masked:
        left = np.clip((np.arange(width, dtype=np.float32) - width / 3) / 20, 0, 1)[None].repeat(height, 0)
        masks = [left, 1 - left]
    else:
        styles = styles[:1]
    inputs = loss_inputs(FeatureExtractor(str(model.features_path), 1), content, styles, [0.6, 0.4][:len(styles)],
                         weights, masks)
    pixels = rng.uniform(0, 1, (3, height, width)).astype(np.float32)
    return inputs, pixels


def _assert_equal_to_untiled(model, inputs, pixels, layout) -> None:
    whole = make_engine("portable", model, inputs, pixels.shape[1:], threads=1).evaluate(pixels)
    tiled = TiledEngine(model, inputs, layout, threads=1).evaluate(pixels)
    for name, value in whole.terms.items():
        assert tiled.terms[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name
    assert np.linalg.norm(tiled.grad - whole.grad) / np.linalg.norm(whole.grad) < 1e-4


@pytest.mark.parametrize("height, width, core", [(150, 203, 32), (150, 203, 64), (150, 203, 96), (77, 131, 48),
                                                 (64, 64, 16), (100, 90, 400)])
def test_tiled_equals_untiled(models, height, width, core):
    inputs, pixels = _problem(models["max"], height, width)
    layout = tile_layout(height, width, core, "vgg16", inputs.layers.all)
    assert len(layout.tiles) >= (1 if core >= max(height, width) else 2)
    _assert_equal_to_untiled(models["max"], inputs, pixels, layout)


def test_tiled_equals_untiled_with_masks(models):
    inputs, pixels = _problem(models["max"], 120, 170, masked=True)
    _assert_equal_to_untiled(models["max"], inputs, pixels, tile_layout(120, 170, 48, "vgg16", inputs.layers.all))


def test_tiled_equals_untiled_with_average_pooling(models):
    inputs, pixels = _problem(models["avg"], 110, 150)
    _assert_equal_to_untiled(models["avg"], inputs, pixels, tile_layout(110, 150, 32, "vgg16", inputs.layers.all))


def test_a_halo_short_of_the_receptive_field_is_not_exact(models):
    """The check above can fail: with half the halo the gradient is far off."""
    inputs, pixels = _problem(models["max"], 150, 203)
    short = TileLayout(150, 203, 64, 32, 16, tuple(Tile(r, c) for r in _spans(150, 64, 32) for c in _spans(203, 64, 32)))
    whole = make_engine("portable", models["max"], inputs, (150, 203), threads=1).evaluate(pixels)
    tiled = TiledEngine(models["max"], inputs, short, threads=1).evaluate(pixels)
    assert np.linalg.norm(tiled.grad - whole.grad) / np.linalg.norm(whole.grad) > 1e-2


def test_layouts_partition_the_image_on_the_pooling_grid():
    layout = tile_layout(4500, 6000, 1000, "vgg16", ("relu4_2", "relu5_1"))
    assert (layout.core, layout.halo, layout.grid) == (992, 64, 16)
    assert sum((t.rows.stop - t.rows.start) * (t.cols.stop - t.cols.start) for t in layout.tiles) == 4500 * 6000
    for tile in layout.tiles:
        for span in (tile.rows, tile.cols):
            assert span.window_start % 16 == 0 and span.start % 16 == 0
            assert span.window_start == max(0, span.start - 64)
    assert halo_and_grid("vgg19", ("relu5_1",)) == (80, 16)
    assert halo_and_grid("vgg16", ("relu3_1",)) == (12, 4)  # field 24, stride 4: 10 px, on the 4-px grid


def test_layouts_put_the_largest_window_first():
    """onnxruntime's arena then serves every later window from the first one's memory."""
    layout = tile_layout(1000, 1500, 256, "vgg16", ("relu4_2", "relu5_1"))
    sizes = [tile.window_pixels for tile in layout.tiles]
    assert sizes[0] == layout.largest_window > sizes[-1] and sizes == sorted(sizes, reverse=True)


RELEASE_CHECK = """
import sys
from pathlib import Path
import numpy as np
from nst_ort.core.engines.features import FeatureExtractor

def resident_mb():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS"))
    return int(line.split()[1]) / 1024

extract = FeatureExtractor(sys.argv[1], 1)
big = np.random.default_rng(0).uniform(0, 1, (3, 1024, 1024)).astype(np.float32)
before = {layer: output.copy() for layer, output in extract(big, ["relu1_1", "relu5_1"]).items()}  # the outputs
held = resident_mb()  # onnxruntime returned live in its arena are gone: the arena holds only free memory
extract.release_unused_memory()
print(held - resident_mb())
after = extract(big, ["relu1_1", "relu5_1"])
assert all(np.array_equal(after[layer], before[layer]) for layer in before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident memory from /proc")
def test_releasing_the_arena_returns_a_large_runs_memory(models):
    """In a fresh process (the arena is process-wide: other tests' sessions share it)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", RELEASE_CHECK, str(models["max"].features_path)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) > 30  # MB: the run's activations (about 100 MB here) go back to the system


def test_tiled_features_equal_whole_image_features(models):
    extract = FeatureExtractor(str(models["max"].features_path), 1)
    pixels = np.random.default_rng(2).uniform(0, 1, (3, 133, 170)).astype(np.float32)
    tiled = TiledFeatures(extract, "vgg16", 48)
    whole, parts = extract.maps(pixels, ["relu1_1", "relu4_2"]), tiled.maps(pixels, ["relu1_1", "relu4_2"])
    for layer in whole:
        np.testing.assert_array_equal(parts[layer], whole[layer])
    whole, parts = extract.grams(pixels, ["relu2_1", "relu5_1"]), tiled.grams(pixels, ["relu2_1", "relu5_1"])
    for layer in whole:
        np.testing.assert_allclose(parts[layer], whole[layer], rtol=1e-5, atol=1e-6 * np.abs(whole[layer]).max())


def test_total_variation_against_finite_differences():
    rng = np.random.default_rng(4)
    pixels = rng.uniform(0, 1, (3, 7, 9))
    loss, grad = total_variation(pixels, 0.7)
    step = 1e-6
    for index in [(0, 0, 0), (1, 3, 4), (2, 6, 8), (0, 6, 0)]:
        moved = pixels.copy()
        moved[index] += step
        assert (total_variation(moved, 0.7)[0] - loss) / step == pytest.approx(grad[index], rel=1e-4, abs=1e-8)


def _pictures(seed: int = 5):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)) for size in ((120, 160, 3), (64, 64, 3))]


def test_a_tiled_run_follows_the_untiled_one(tiny_models_dir):
    model = open_model(tiny_models_dir / "vgg16")
    content, style = _pictures()
    options = StylizeOptions(size=160, iterations=4, scales=2, threads=1, engine="portable")
    plain = stylize(content, [style], model, options)
    tiled = stylize(content, [style], model, StylizeOptions(**{**options.__dict__, "tile": 48}))
    assert "tiles of 48 px" in tiled.report["levels"][-1]["plan"]
    losses = [(a["loss"], b["loss"]) for a, b in zip(plain.report["iterations"], tiled.report["iterations"])]
    assert all(b == pytest.approx(a, rel=1e-3) for a, b in losses)
    assert np.abs(np.asarray(plain.image, float) - np.asarray(tiled.image, float)).mean() < 1.0  # of 255


def test_the_training_engine_refuses_tiles(tiny_models_dir):
    from tests.conftest import requires_training  # noqa: F401 - the refusal needs no training package

    content, style = _pictures()
    options = StylizeOptions(size=160, iterations=1, scales=1, engine="training", tile=64)
    with pytest.raises(NstError, match="training engine cannot split"):
        stylize(content, [style], open_model(tiny_models_dir / "vgg16"), options)


def _real_problem(models_dir, side: int, style_side: int):
    """(model, loss inputs, pixels): Tübingen x Starry Night on the real VGG16, the photo with noise."""
    from nst_ort.io.images import fit_long_side, load_image, to_array

    model = open_model(models_dir / "vgg16")
    photo, painting = load_image(shared_image("content", "tubingen.jpg")), load_image(shared_image("style", "starry_night.jpg"))
    content = to_array(photo, fit_long_side(photo.size, side))
    style = to_array(painting, fit_long_side(painting.size, style_side))
    inputs = loss_inputs(FeatureExtractor(str(model.features_path), 2), content, [style], [1.0], GATYS)
    pixels = np.clip(content + np.random.default_rng(0).uniform(-0.1, 0.1, content.shape).astype(np.float32), 0, 1)
    return model, inputs, pixels


@pytest.mark.slow
def test_tiled_equals_untiled_on_the_real_vgg16(real_models_dir):
    model, inputs, pixels = _real_problem(real_models_dir, 400, 400)
    _assert_equal_to_untiled(model, inputs, pixels, tile_layout(*pixels.shape[1:], 128, "vgg16", inputs.layers.all))


def test_tiled_evaluations_report_their_tiles(models):
    import io

    from nst_ort.jobs.progress import Reporters, TerminalReporter

    inputs, pixels = _problem(models["max"], 100, 130)
    layout = tile_layout(100, 130, 48, "vgg16", inputs.layers.all)
    seen = []
    TiledEngine(models["max"], inputs, layout, threads=1, on_tile=lambda *event: seen.append(event)).evaluate(pixels)
    count = len(layout.tiles)
    assert seen == [(1, k, count) for k in range(1, count + 1)] + [(2, k, count) for k in range(1, count + 1)]
    log = io.StringIO()  # not a terminal: a tile note at most once a minute
    reporter = TerminalReporter(stream=log)
    reporter.last_tile_note -= 61
    Reporters([reporter]).tile(2, 3, 9)
    Reporters([reporter]).tile(2, 4, 9)
    assert log.getvalue() == "evaluating: pass 2/2, tile 3/9\n"


def test_nst_bench_times_the_tiled_engine(tiny_models_dir):
    import json

    from tests.helpers import nst

    result = nst("bench", "--size", "80x64", "--iterations", 1, "--warmup", 0, "--tile", 32, "--threads", 1, "--json",
                 "--conv", "direct", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["engine"] == "tiled"


@pytest.mark.slow
@pytest.mark.print
def test_loss_terms_agree_tiled_and_untiled_at_1600_px_on_the_real_vgg16(real_models_dir):
    """The untiled graph's sums are as accurate as the tiled engine's float64 ones at size."""
    model, inputs, pixels = _real_problem(real_models_dir, 1600, 512)
    whole = make_engine("portable", model, inputs, pixels.shape[1:], threads=2).evaluate(pixels)
    tiled = TiledEngine(model, inputs, tile_layout(*pixels.shape[1:], 512, "vgg16", inputs.layers.all), threads=2)
    terms = tiled.evaluate(pixels).terms
    for name, value in whole.terms.items():
        assert terms[name] == pytest.approx(value, rel=1e-5), name


REPEAT_CHECK = """
import sys
import numpy as np
from nst_base.model_store import open_model
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.engines.factory import make_engine
from nst_ort.platform.memory import peak_rss_bytes, reset_peak_rss
from nst_ort.core.targets import LossWeights, loss_inputs

model = open_model(__import__("pathlib").Path(sys.argv[1]))
rng = np.random.default_rng(0)
content, style, start = (rng.uniform(0, 1, (3, 768, 768)).astype(np.float32) for _ in range(3))
weights = LossWeights(1.0, 1.0, 1.0, {"relu4_2": 1.0}, {"relu1_1": 1.0, "relu3_1": 1.0, "relu5_1": 1.0})
inputs = loss_inputs(FeatureExtractor(str(model.features_path), 1), content, [style], [1.0], weights)
engine = make_engine("portable", model, inputs, (768, 768), threads=1)
reset_peak_rss()
peaks = []
for _ in range(3):
    engine.evaluate(start)
    peaks.append(peak_rss_bytes())
print(peaks[0], peaks[-1])
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="resets the peak through /proc")
def test_repeated_evaluations_stay_at_the_first_ones_peak(models):
    """onnxruntime's memory pattern added a block beside the arena from the second run on
    (+60% of the session's peak on 1.16 and 1.20+): it is off, so later runs add nothing."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", REPEAT_CHECK, str(models["max"].folder)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    first, last = map(int, done.stdout.split())
    assert last - first < 20 * 2**20, (first, last)
