"""Winograd convolutions (nst_graphs/winograd.py): the same function as the direct form, one
convolution against float64 numpy, the whole loss and gradient against the direct engine,
tiles still exact, and the option's rules."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from nst_base.errors import NstError
from bench.winograd_probe import reference as direct_reference
from nst_graphs.graph import GraphBuilder
from nst_graphs.winograd import FORMS, transformed_kernel, winograd_conv, winograd_kernels
from nst_ort.core.engines.factory import make_engine
from nst_ort.core.engines.tiled import TiledEngine
from nst_ort.core.engines.tiles import tile_layout
from nst_ort.options.recipes import recipe_options
from nst_ort.options.schema import OptionError
from tests.helpers import relative_l2, same_gradient_but_switches
from tests.test_tiled import _problem, _real_problem
from tests.tiny import write_tiny_model


@pytest.mark.parametrize("m", sorted(FORMS))
@pytest.mark.parametrize("channels, outs, height, width", [(4, 5, 7, 9), (8, 6, 10, 11), (3, 2, 1, 1), (16, 8, 33, 50),
                                                           (5, 7, 4, 4), (6, 3, 2, 13)])
def test_one_winograd_convolution_is_the_direct_one(m, channels, outs, height, width):
    rng = np.random.default_rng(channels * 100 + height)
    kernel = rng.standard_normal((outs, channels, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(outs).astype(np.float32)
    x = rng.standard_normal((1, channels, height, width)).astype(np.float32)
    b = GraphBuilder("one_conv")
    u = b.const(transformed_kernel(kernel, FORMS[m]), "u")
    b.output(winograd_conv(b, b.input("x", [1, channels, "h", "w"]), u, (outs, channels), b.const(bias, "bias"), m),
             name="y", shape=[1, outs, "h", "w"])
    session = ort.InferenceSession(b.model().SerializeToString(), providers=["CPUExecutionProvider"])
    y = session.run(None, {"x": x})[0][0]
    exact = direct_reference(x, kernel, bias)
    assert y.shape == exact.shape
    assert np.linalg.norm(y - exact) / np.linalg.norm(exact) < 1e-5


def test_which_convolutions_run_as_winograd():
    from nst_graphs.winograd import DEFAULT_CONV
    from nst_ort.options.stylize import StylizeOptions

    assert StylizeOptions().conv == DEFAULT_CONV  # export builds the default's graph
    assert winograd_kernels("vgg16", "direct") == ()
    assert winograd_kernels("vgg16", "auto") == tuple(f"{name}.kernel" for name in (
        "conv3_1", "conv3_2", "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"))
    every = winograd_kernels("vgg19", "winograd")
    assert "conv1_1.kernel" not in every and len(every) == 15  # all but the first (3 input channels)
    with pytest.raises(ValueError):
        winograd_kernels("vgg16", "fast")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("winograd-models") / "vgg16")


@pytest.mark.parametrize("masked", [False, True])
def test_the_loss_and_gradient_with_winograd_are_the_direct_ones(model, masked):
    inputs, pixels = _problem(model, 77, 101, masked=masked)
    direct = make_engine("portable", model, inputs, pixels.shape[1:], threads=1).evaluate(pixels)
    winograd = make_engine("portable", model, inputs, pixels.shape[1:], threads=1, conv="winograd").evaluate(pixels)
    for name, value in direct.terms.items():
        assert winograd.terms[name] == pytest.approx(value, rel=1e-5), name
    assert relative_l2(winograd.grad, direct.grad) < 1e-5


def test_tiles_stay_exact_with_winograd(model):
    inputs, pixels = _problem(model, 150, 203)
    whole = make_engine("portable", model, inputs, pixels.shape[1:], threads=1, conv="winograd").evaluate(pixels)
    layout = tile_layout(150, 203, 64, "vgg16", inputs.layers.all)
    tiled = TiledEngine(model, inputs, layout, threads=1, conv="winograd").evaluate(pixels)
    for name, value in whole.terms.items():
        assert tiled.terms[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name
    assert relative_l2(tiled.grad, whole.grad) < 1e-4


def test_winograd_is_the_portable_engines_alone(model):
    inputs, pixels = _problem(model, 40, 40)
    with pytest.raises(NstError, match="--conv winograd runs on the portable engine"):
        make_engine("training", model, inputs, pixels.shape[1:], conv="winograd")
    with pytest.raises(OptionError, match="--conv winograd") as refused:
        recipe_options("gatys", None, engine="training", conv="winograd").validate()
    assert refused.value.option == "conv"
    recipe_options("gatys", None, engine="training", conv="auto").validate()  # auto: direct there


def test_nst_bench_prints_direct_and_winograd_side_by_side(tiny_models_dir):
    from tests.helpers import nst

    result = nst("bench", "--size", "64x48", "--iterations", 1, "--warmup", 0, "--threads", 1,
                 models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split("conv ")[1].split(":")[0] for line in lines] == ["direct", "winograd", "auto"], lines
    assert "x direct" in lines[1]


@pytest.mark.slow
def test_winograd_on_the_real_vgg16_at_533x400(real_models_dir):
    """The loss and gradient with auto's choice and with every convolution but the first as
    Winograd F(4x4, 3x3), against the direct form on the real weights: the loss to 1e-5, the
    gradient as two roundings of one network agree (`same_gradient_but_switches`)."""
    model, inputs, pixels = _real_problem(real_models_dir, 533, 400)
    direct = make_engine("portable", model, inputs, pixels.shape[1:], threads=2).evaluate(pixels)
    for conv in ("auto", "winograd"):
        result = make_engine("portable", model, inputs, pixels.shape[1:], threads=2, conv=conv).evaluate(pixels)
        assert result.loss == pytest.approx(direct.loss, rel=1e-5), conv
        print(f"{conv}: gradient relative L2 {relative_l2(result.grad, direct.grad):.2e}")
        same_gradient_but_switches(result.grad, direct.grad)


@pytest.mark.slow
@pytest.mark.parametrize("tile", [None, 256])
def test_four_iterations_with_winograd_make_the_direct_picture(real_models_dir, tile):
    """4 L-BFGS iterations at 533x400, untiled and in 256-px tiles: the same picture as the
    direct form, to a mean difference of 0.1/255."""
    from nst_base.model_store import open_model
    from nst_ort.core.levels import stylize
    from nst_ort.io.images import load_image
    from tests.conftest import shared_image

    photo, painting = load_image(shared_image("content", "tubingen.jpg")), load_image(shared_image("style", "starry_night.jpg"))
    model = open_model(real_models_dir / "vgg16")
    pictures = {}
    for conv in ("direct", "auto"):
        options = recipe_options("gatys", None, size=533, iterations=4, scales=1, threads=2, conv=conv,
                                 tile=tile)
        pictures[conv] = np.asarray(stylize(photo, [painting], model, options).image, dtype=np.float64)
    assert np.abs(pictures["auto"] - pictures["direct"]).mean() <= 0.1


def test_the_memory_plan_knows_winograd_and_auto_keeps_a_run_untiled():
    from nst_ort.core.memory_plan import plan_run, winograd_bytes
    from tests.test_memory import request

    layers = ("relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    measured_over_direct = {  # GiB (docs/bench/winograd.json): auto, winograd
        (266, 200): (0.19, 0.31), (533, 400): (0.24, 0.41), (1066, 800): (0.44, 1.30)}
    for (width, height), (auto, every) in measured_over_direct.items():
        planned = winograd_bytes("vgg16", "auto", layers, width * height) / 2**30
        assert auto <= planned <= auto * 1.4, (width, height, planned)
        planned = winograd_bytes("vgg16", "winograd", layers, width * height) / 2**30
        assert every * 0.9 <= planned <= every * 1.4, (width, height, planned)
    assert winograd_bytes("vgg16", "auto", ("relu2_1",), 10**6) == 0  # no Winograd layer in that graph
    assert winograd_bytes("vgg16", "winograd", layers, 10**6) > winograd_bytes("vgg16", "auto", layers, 10**6)
    direct = request(533, 400, None, conv="direct").untiled_estimate()
    auto = request(533, 400, None, conv="auto").untiled_estimate()
    assert auto > direct
    roomy = plan_run(request(533, 400, auto + 2**20, conv="auto"))
    assert roomy.conv == "auto" and roomy.layout is None and "Winograd" in roomy.describe()
    tight = plan_run(request(533, 400, direct + 2**20, conv="auto"))  # untiled only without Winograd's share
    assert tight.conv == "direct" and tight.layout is None
    assert plan_run(request(533, 400, None, conv="auto", engine="training")).conv == "direct"
