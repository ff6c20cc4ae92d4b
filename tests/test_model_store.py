"""The per-model cache: built once, shared by concurrent runs, bounded in size."""

from __future__ import annotations

from pathlib import Path

import pytest

from nst_base.model_store import CACHE, CACHE_ENTRIES, open_model
from tests.tiny import write_tiny_model


def test_cache_entry_is_built_once(tmp_path):
    model = write_tiny_model(tmp_path / "vgg16")
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "data.txt").write_text("built")

    first = model.cached_artifacts("entry", build)
    second = open_model(model.folder).cached_artifacts("entry", build)
    assert first == second and (first / "data.txt").read_text() == "built" and len(calls) == 1


def test_a_concurrent_build_keeps_the_other_runs_entry(tmp_path):
    """Another process finishes the same entry while this one builds: its folder stays, ours goes."""
    model = write_tiny_model(tmp_path / "vgg16")
    target = model.folder / CACHE / "entry"

    def build(folder):
        (folder / "data.txt").write_text("ours")
        target.mkdir(parents=True)
        (target / "data.txt").write_text("theirs")

    assert (model.cached_artifacts("entry", build) / "data.txt").read_text() == "theirs"
    assert [p.name for p in (model.folder / CACHE).iterdir()] == ["entry"]  # no temp folder left


def test_cache_keeps_the_newest_entries(tmp_path):
    model = write_tiny_model(tmp_path / "vgg16")
    for index in range(CACHE_ENTRIES + 3):
        model.cached_artifacts(f"entry{index}", lambda folder: (folder / "x").write_text("x"))
    assert len(list((model.folder / CACHE).iterdir())) == CACHE_ENTRIES


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text)


def _fail(message: str) -> None:
    raise ValueError(message)


def test_a_function_runs_in_a_child_process_and_its_failure_comes_back(tmp_path):
    from nst_base.child import run_in_child

    run_in_child(_write_text, str(tmp_path / "made.txt"), "in the child")
    assert (tmp_path / "made.txt").read_text() == "in the child"
    with pytest.raises(RuntimeError, match="ValueError: the disk is full"):
        run_in_child(_fail, "the disk is full")


def test_gradient_graphs_are_built_in_a_child_process(tiny_models_dir, monkeypatch):
    """The build holds the weights several times over (1.6 GB for VGG16): not in the run's process."""
    import nst_graphs.gradient_graph as gradient_graph
    import nst_graphs.tile_graph as tile_graph
    from nst_graphs.loss_graph import LossLayers
    from nst_ort.core.engines.tiled import tile_model_path

    def not_here(*args, **kwargs):
        raise AssertionError("built in the run's own process")

    monkeypatch.setattr(gradient_graph, "build_gradient_model", not_here)
    monkeypatch.setattr(tile_graph, "build_tile_gradient_model", not_here)
    model = open_model(tiny_models_dir / "vgg16")
    layers = LossLayers(content=("relu2_2",), style=("relu1_1", "relu2_1"))
    assert Path(gradient_graph.gradient_model_path(model, layers, "winograd")).is_file()
    assert Path(tile_model_path(model, layers, conv="winograd")).is_file()
