"""The per-model cache: built once, shared by concurrent runs, bounded in size."""

from __future__ import annotations

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
