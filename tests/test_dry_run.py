"""Before the run: `--dry-run` prints the plan with its time and energy and writes nothing;
the studio says the same before Start and before a print is queued."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nst_ort.core.estimate import PARALLEL_SHARE, estimate_run, speedup
from nst_ort.options.stylize import StylizeOptions
from nst_ort.platform.energy import WATTS_ENV
from tests.helpers import nst, one_line_error
from tests.tiny import random_images


def everything(folder: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in folder.rglob("*")}


@pytest.fixture()
def pictures(tmp_path):
    (tmp_path / "in").mkdir()
    return random_images(tmp_path / "in", {"content": (64, 48), "style": (40, 40)})


def test_the_estimate_scales_with_the_threads_and_its_energy_is_time_on_busy_cores(monkeypatch):
    monkeypatch.setenv(WATTS_ENV, "5")
    one, two = (estimate_run((533, 400), StylizeOptions(threads=threads)) for threads in (1, 2))
    assert one.seconds / two.seconds == pytest.approx(speedup(2) / speedup(1)) and 0 < PARALLEL_SHARE < 1
    assert one.wh == pytest.approx(one.seconds * 1 * 5 / 3600) and two.wh == pytest.approx(two.seconds * 2 * 5 / 3600)
    assert [level.iterations for level in two.plan.levels] == [100, 100, 100] and len(two.lines()) == 4
    budgeted = estimate_run((533, 400), StylizeOptions(threads=2, time_budget=30))
    assert budgeted.seconds == 30
    assert "takes hours" in estimate_run((6000, 4500), StylizeOptions(size=6000, max_memory=8 * 2**30)).summary()


def test_stylize_and_upscale_dry_runs_write_nothing(tiny_models_dir, pictures, tmp_path):
    out, empty_models = tmp_path / "out.png", tmp_path / "no-models"
    empty_models.mkdir()
    before = everything(tmp_path)
    for models in (tiny_models_dir, empty_models):  # not exported yet: still nothing written (no export)
        result = nst("stylize", pictures["content"], pictures["style"], "-o", out, "--size", "64", "--dry-run",
                     "--report", tmp_path / "r.json", "--gif", tmp_path / "g.gif", models_dir=models)
        assert result.returncode == 0, result.stderr
        assert "level 1/1: 64x48 untiled" in result.stdout and " Wh (estimated)" in result.stdout
        assert everything(tmp_path) == before
    made = nst("stylize", pictures["content"], pictures["style"], "-o", out, "--size", "32", "--iterations", "2",
               models_dir=tiny_models_dir)
    assert made.returncode == 0, made.stderr
    before = everything(tmp_path)
    result = nst("upscale", out, "-o", tmp_path / "print.png", "--size", "128", "--dry-run", "--content",
                 pictures["content"], "--style", pictures["style"], models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert "level 3/3: 128x96" in result.stdout and "Wh" in result.stdout and everything(tmp_path) == before
    one_line_error(nst("stylize", pictures["content"], pictures["style"], "-o", tmp_path / "out.txt", "--dry-run",
                       models_dir=tiny_models_dir), "out.txt")  # checked as a real run checks it


def test_a_batch_dry_run_estimates_every_item_and_makes_no_folder(tiny_models_dir, pictures, tmp_path):
    plan = tmp_path / "plan.csv"
    plan.write_text(f"content,style,style_weight\n{pictures['content']},{pictures['style']},2\n"
                    f"{pictures['content']},{pictures['style']},-1\n")
    result = nst("batch", plan, "-o", tmp_path / "out", "--size", "64", "--dry-run", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "Wh" in lines[0] and "would fail: --style-weight must be" in lines[1] and lines[2].startswith("2 items")
    assert not (tmp_path / "out").exists()


def test_a_video_dry_run_counts_the_frames(tiny_models_dir, pictures, tmp_path):
    pytest.importorskip("av")
    from tests.test_video import texture, write_test_clip

    clip = write_test_clip(tmp_path / "clip.mp4", [texture(48, 64, seed) for seed in range(5)])
    before = everything(tmp_path)
    result = nst("video", clip, pictures["style"], "-o", tmp_path / "out.mp4", "--size", "64", "--dry-run",
                 models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("5 frames") and "then 4 frames of 40 iterations" in result.stdout
    assert everything(tmp_path) == before


def test_the_studio_estimates_a_run_and_a_print_before_they_start(tiny_models_dir, tmp_path, pictures):
    from tests.test_studio import local_client, submit, wait_for

    from nst_ort.studio.studio import Studio
    from nst_ort.studio.workspace import Workspace

    studio = Studio(Workspace(tmp_path / "workspace"), tiny_models_dir)
    studio.start()
    try:
        with local_client(studio) as client:
            answer = client.post("/api/estimate", json={"width": 64, "height": 48, "styles": 1, "options": {
                "size": "64", "threads": "1"}}).json()
            assert answer["threads"] == 1 and answer["wh"] > 0 and "about" in answer["summary"]
            bad = client.post("/api/estimate", json={"width": 64, "height": 48, "options": {"size": "9"}})
            assert bad.status_code == 400 and bad.json()["field"] == "size"
            files = {name: pictures[name].read_bytes() for name in ("content", "style")}
            run_id = submit(client, files).json()["id"]
            wait_for(client, run_id, ("done",))
            answer = client.post("/api/estimate", json={"print_of": run_id, "size": 128}).json()
            assert answer["levels"][-1]["size"] == [128, 96] and "Wh" in answer["summary"]
            assert not (studio.workspace.runs / run_id / "job.nst-run").exists() and len(os.listdir(
                studio.workspace.runs)) == 1, "an estimate queues nothing"
            finished = client.get(f"/api/runs/{run_id}").json()
            assert finished["summary"].startswith("in ") and "Wh" in finished["summary"]
            refused = client.post("/api/runs", files=[("content", ("p.png", files["content"])),
                                                      ("style", ("s.png", files["style"]))],
                                  data={"options": json.dumps({"start_at": "+1h"})})
            assert refused.status_code == 400 and refused.json()["field"] == "start_at"
    finally:
        studio.close()
