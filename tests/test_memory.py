"""The memory plan before a run: estimates, tiles when untiled does not fit, refusals, --max-memory parsing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from nst_base.errors import NstError
from nst_ort.platform.memory import parse_size_bytes
from bench.memory_model import LARGER_RUNS, whole_levels
from nst_ort.core.memory_plan import RUN_FIXED_BYTES, PlanRequest, plan_run

VGG16_CHANNELS = {"relu4_2": 512}
GATYS = ("relu4_2", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def request(width: int, height: int, limit: int | None, **changes) -> PlanRequest:
    fields = dict(engine="portable", optimizer="lbfgs", net="vgg16", layers=GATYS, content_layers=("relu4_2",),
                  content_channels=VGG16_CHANNELS, limit=limit)
    return PlanRequest(width, height, **{**fields, **changes})


def test_estimate_grows_with_pixels_engine_history_and_window():
    assert request(16, 16, None).untiled_estimate() > RUN_FIXED_BYTES
    assert request(1024, 768, None).untiled_estimate() > request(512, 384, None).untiled_estimate()
    assert request(512, 384, None, engine="training").untiled_estimate() > request(512, 384, None).untiled_estimate()
    small, large = (plan_run(request(3000, 2000, None, tile=core)).layout for core in (256, 512))
    assert request(3000, 2000, None).tiled_estimate(large, 3) > request(3000, 2000, None).tiled_estimate(small, 3)
    assert request(3000, 2000, None).tiled_estimate(small, 10) > request(3000, 2000, None).tiled_estimate(small, 3)


def test_a_run_that_fits_untiled_stays_untiled():
    plan = plan_run(request(533, 400, 8 * 2**30))
    assert plan.layout is None and plan.estimate == request(533, 400, None).untiled_estimate() and plan.history == 10


@pytest.mark.parametrize("limit_gb", [2, 4, 8, 16])
def test_print_size_gets_tiles_that_fit_the_limit(limit_gb):
    limit = limit_gb * 2**30
    try:
        plan = plan_run(request(6000, 4500, limit))
    except NstError as error:  # below what the whole image's arrays need: refused with what fits
        assert limit_gb <= 4 and "in tiles" in str(error) and "--size" in str(error)
        return
    assert plan.layout is not None and plan.estimate <= limit
    assert plan.layout.core % plan.layout.grid == 0 and plan.layout.halo == 64
    covered = sum((t.rows.stop - t.rows.start) * (t.cols.stop - t.cols.start) for t in plan.layout.tiles)
    assert covered == 6000 * 4500  # the cores partition the image
    bigger = plan_run(request(6000, 4500, 2 * limit))
    assert bigger.layout is None or bigger.layout.core >= plan.layout.core


def test_an_explicit_tile_is_used_and_never_means_never():
    plan = plan_run(request(1000, 700, 64 * 2**30, tile=256))
    assert plan.layout is not None and plan.layout.core == 256 and len(plan.layout.tiles) == 4 * 3
    with pytest.raises(NstError, match="untiled"):
        plan_run(request(6000, 4500, 8 * 2**30, tile=0))


def test_nothing_fits_in_one_line_with_what_would():
    with pytest.raises(NstError, match=r"a 6000x4500 run needs about \d+\.\d GB of memory even in tiles, more than "
                                       r"the 1.0 GB allowed by --max-memory: --size \d+ fits( in tiles)? "
                                       r"\(or raise --max-memory\)"):
        plan_run(request(6000, 4500, 2**30))


def test_the_training_engine_refuses_to_tile():
    with pytest.raises(NstError, match="training engine cannot split"):
        plan_run(request(6000, 4500, 8 * 2**30, engine="training"))


@pytest.mark.parametrize("text, value", [("2G", 2 * 2**30), ("800M", 800 * 2**20), ("1.5GB", int(1.5 * 2**30)),
                                         ("2GiB", 2 * 2**30), ("4096", 4096), ("64k", 64 * 2**10)])
def test_parse_size(text, value):
    assert parse_size_bytes(text) == value


@pytest.mark.parametrize("text", ["", "G", "two", "-1G", "0"])
def test_parse_size_refuses(text):
    with pytest.raises((ValueError, IndexError)):
        parse_size_bytes(text)


def test_a_tight_limit_falls_back_to_small_tiles_and_two_pairs_only_when_nothing_else_fits():
    tight = plan_run(request(3000, 2000, 2 * 2**30))
    assert tight.layout.core <= 192 and tight.history == 2 and tight.estimate <= 2 * 2**30
    roomy = plan_run(request(6000, 4500, 8 * 2**30))
    assert roomy.history >= 3  # two pairs are a last resort


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux resets the peak through /proc")
def test_a_new_peak_starts_after_a_reset():
    """In a fresh interpreter: in the test process, after some earlier tests' runs, the reset
    kept the old peak to the byte though the block's 200 MB were back with the system (seen
    in CI; the cause is not found, and level peaks in reports could read high the same way)."""
    import subprocess
    import sys

    check = """
import numpy as np
from nst_ort.platform.memory import peak_rss_bytes, reset_peak_rss
assert reset_peak_rss()
block = np.ones(50 * 2**20, np.float32)  # 200 MB, touched
held = peak_rss_bytes()
del block
assert reset_peak_rss() and peak_rss_bytes() < held - 150 * 2**20, (held, peak_rss_bytes())
"""
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr


def test_plan_table_in_the_docs_is_generated_from_the_plan():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import plan_table
    from readme import read_block

    assert plan_table.PAGE.name == "print.md"
    assert read_block("plan", plan_table.PAGE) == plan_table.markdown_table()


BENCH = Path(__file__).resolve().parent.parent / "docs" / "bench"
# bench/memory_model.py's cases and every level of its whole runs, and bench/style_losses.py --memory's (each style loss)
MODEL = json.loads((BENCH / "memory_model.json").read_text())
MEASURED = {"cases": [*MODEL["cases"], *whole_levels(MODEL),
                      *json.loads((BENCH / "style_losses_speed.json").read_text()).get("memory", [])]}


def _case_id(case: dict) -> str:
    return f"ort{case['onnxruntime']}-{case['engine']}-{case['size']}{'-tile' + str(case['tile']) if case['tile'] else ''}" \
           f"-{case['threads']}thr" + (f"-{case['loss']}" if "loss" in case else "") \
           + (f"-whole{case['whole_run']}" if "whole_run" in case else "") + ("-studio" if case.get("studio") else "")


def test_whole_runs_are_measured():
    """Whole runs (every iteration, the full L-BFGS history, a GIF, checkpoints and saved images)
    are part of what the plan is checked against, on every onnxruntime nst-ort installs."""
    levels = whole_levels(MODEL)
    assert {case["onnxruntime"] for case in levels} >= {case["onnxruntime"] for case in MODEL["cases"]}
    assert all(case["pairs_held"] == case["history"] for case in levels)


@pytest.mark.parametrize("case", MEASURED["cases"], ids=_case_id)
def test_the_estimate_covers_every_measured_peak_within_30_percent(case):
    """bench/memory_model.py's runs on every onnxruntime nst-ort installs at 1-16 threads: the
    current plan's estimate for what each run held is at or above its peak, and at most 30% above."""
    from bench.memory_model import estimate_for

    estimate, peak = estimate_for(case), case["peak_rss_bytes"]
    assert peak <= estimate <= 1.3 * peak, f"{estimate / 2**30:.2f} GiB for {peak / 2**30:.2f} GiB"


@pytest.mark.parametrize("case", MEASURED["cases"], ids=_case_id)
def test_a_limit_below_a_measured_peak_tiles_or_refuses(case):
    """--max-memory just under a run's measured peak: the plan never picks what that run did."""
    from bench.memory_model import plan_request

    measured = plan_run(plan_request(case))
    limited = replace(plan_request(case), limit=case["peak_rss_bytes"] - 1, tile=None if not case["tile"] else case["tile"])
    try:
        plan = plan_run(limited)
    except NstError:
        return
    assert (plan.layout, plan.history) != (measured.layout, measured.history)
    assert plan.estimate <= limited.limit


@pytest.mark.parametrize("run", LARGER_RUNS, ids=lambda run: run.name)
def test_the_estimate_covers_the_larger_runs(run):
    estimate = run.estimate()
    assert run.peak_bytes <= estimate <= 1.3 * run.peak_bytes, f"{estimate / 2**30:.2f} GiB"

