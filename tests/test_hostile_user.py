"""What a hostile user tried on the command line and the run folders (issue 31), each as a user
would run it: crafted run folders, decompression bombs in every image slot, files that are not
files, absurd shares, stops while the command is still loading."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nst_base.errors import NstError
from nst_ort.options.stylize import StylizeOptions
from nst_ort.core.levels import blend_shares
from tests.helpers import ROOT, one_line_error, nst
from tests.helpers import declared_png
from tests.helpers import start_nst, stop_a_run, stylize_args
from tests.tiny import random_images

BOMB_MESSAGE = "declares 30000x30000 pixels (900 MP): too large"


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-images")
    paths = random_images(folder, {"content": (64, 48), "style": (40, 40)}, seed=5)
    paths["bomb"] = folder / "bomb.png"
    declared_png(paths["bomb"], 30000, 30000)  # 60 bytes declaring 7 GB of pixels
    return paths


def quick(pictures: dict[str, Path], out: Path, *extra) -> list:
    return ["stylize", pictures["content"], pictures["style"], "-o", out, "--size", 32, "--iterations", 2,
            "--scales", 1, "--threads", 1, "--quiet", *extra]


@pytest.fixture(scope="module")
def result(tiny_models_dir, pictures, tmp_path_factory) -> Path:
    """A finished result (it carries its settings, so `nst upscale` takes it)."""
    out = tmp_path_factory.mktemp("result") / "result.png"
    assert nst(*quick(pictures, out), models_dir=tiny_models_dir).returncode == 0
    return out


# ---- a run folder writes only in its own place ----------------------------------------------------

@pytest.fixture(scope="module")
def stopped(tiny_models_dir, pictures, tmp_path_factory) -> tuple[Path, Path]:
    return stop_a_run(pictures, tmp_path_factory.mktemp("stopped"), tiny_models_dir, progress_lines=2)


def crafted(stopped: tuple[Path, Path], folder: Path, image: str) -> Path:
    """A copy of the stopped run folder in `folder` whose run.json names `image` as its output."""
    run_dir = folder / "run.nst-run"
    shutil.copytree(stopped[0], run_dir)
    data = json.loads((run_dir / "run.json").read_text())
    data["job"]["outputs"]["image"] = image
    (run_dir / "run.json").write_text(json.dumps(data))
    return run_dir


@pytest.mark.parametrize("image", ["{far}/x.png", "../../x.png", "../x.png"])
def test_a_run_folder_cannot_send_its_output_anywhere(tiny_models_dir, stopped, tmp_path, image):
    far = tmp_path / "far"
    far.mkdir()
    place = tmp_path / "place"
    place.mkdir()
    run_dir = crafted(stopped, place, image.format(far=far))
    refused = nst("resume", run_dir, models_dir=tiny_models_dir)
    one_line_error(refused, "where the run folder is: pass `nst resume")
    assert "resuming" not in refused.stderr
    assert not list(tmp_path.rglob("x.png")) and not (ROOT / "x.png").exists()


def test_a_relative_output_is_taken_from_the_run_folders_place_and_o_names_any_other(tiny_models_dir, stopped,
                                                                                    tmp_path):
    run_dir = crafted(stopped, tmp_path, "beside.png")
    copy = tmp_path / "copy.nst-run"
    shutil.copytree(run_dir, copy)
    assert nst("resume", run_dir, "--quiet", models_dir=tiny_models_dir).returncode == 0
    assert (tmp_path / "beside.png").is_file() and not (ROOT / "beside.png").exists()
    elsewhere = tmp_path / "elsewhere" / "chosen.png"
    done = nst("resume", copy, "-o", elsewhere, "--quiet", models_dir=tiny_models_dir)
    assert done.returncode == 0, done.stderr
    assert elsewhere.is_file() and not copy.exists()


@pytest.mark.parametrize("change, message", [
    (lambda job: job.update(styles="style.png"), "styles must be list, not str"),
    (lambda job: job.update(content=7), "content must be a file path, not int"),
    (lambda job: job.update(masks=[3]), "masks[0] must be a file path, not int"),
    (lambda job: job["outputs"].update(gif_every="10"), "gif_every must be int, not str"),
    (lambda job: job.pop("explicit_size"), "explicit_size is missing"),
])
def test_wrong_types_in_run_json_are_named(tiny_models_dir, stopped, tmp_path, change, message):
    run_dir = crafted(stopped, tmp_path, str(tmp_path / "out.png"))
    data = json.loads((run_dir / "run.json").read_text())
    change(data["job"])
    (run_dir / "run.json").write_text(json.dumps(data))
    result = nst("resume", run_dir, models_dir=tiny_models_dir)
    one_line_error(result, f"the run description is damaged ({message})")


def test_a_default_run_folder_of_the_users_does_not_blame_a_checkpoint_flag(tiny_models_dir, pictures, tmp_path):
    out = tmp_path / "out.png"
    (tmp_path / "out.png.nst-run").mkdir()
    (tmp_path / "out.png.nst-run" / "notes.txt").write_text("mine")
    result = nst(*quick(pictures, out), models_dir=tiny_models_dir)
    one_line_error(result, f"the run folder {tmp_path / 'out.png.nst-run'} holds files nst-ort did not write: "
                            f"move it, or give another folder with --checkpoint DIR")
    assert (tmp_path / "out.png.nst-run" / "notes.txt").read_text() == "mine"


def test_an_output_folder_turned_into_a_file_keeps_the_run_in_the_state_folder(tiny_models_dir, pictures, tmp_path,
                                                                                monkeypatch):
    state, out_dir = tmp_path / "state", tmp_path / "out"
    monkeypatch.setenv("NST_STATE_DIR", str(state))
    out_dir.mkdir()
    out = out_dir / "final.png"
    process = start_nst(stylize_args(pictures, out), tiny_models_dir)  # its run folder: out/final.png.nst-run
    shutil.rmtree(out_dir)
    out_dir.write_text("now a file: neither the output nor the run folder can be written")
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 1 and "Traceback" not in rest, rest
    kept = [folder for folder in (state / "runs").iterdir() if (folder / "checkpoint.npz").is_file()]
    assert len(kept) == 1 and kept[0].name.startswith("final.png.nst-run-")
    assert f"the run is kept in {kept[0]}" in rest.splitlines()[-1]
    assert f"`nst resume {kept[0]} -o {out}` writes it" in rest.splitlines()[-1]
    chosen = tmp_path / "chosen.png"
    done = nst("resume", kept[0], "-o", chosen, "--quiet", models_dir=tiny_models_dir)
    assert done.returncode == 0, done.stderr
    assert Image.open(chosen).size == (64, 48) and not kept[0].exists()


# ---- every image goes through the one decode guard ---------------------------------------------

@pytest.mark.parametrize("slot", ["content", "style", "mask", "init"])
def test_a_bomb_is_refused_from_its_header_in_every_slot(tiny_models_dir, pictures, tmp_path, slot):
    images = {**pictures, slot: pictures["bomb"]} if slot in ("content", "style") else pictures
    extra = {"mask": ["--mask", pictures["bomb"]], "init": ["--init", pictures["bomb"]]}.get(slot, [])
    result = nst(*quick(images, tmp_path / "o.png", "--size", 64, *extra), models_dir=tiny_models_dir)
    one_line_error(result, BOMB_MESSAGE)
    assert result.returncode == 1


def test_a_bomb_in_a_folder_of_frames_is_refused(tiny_models_dir, pictures, tmp_path):
    pytest.importorskip("av")
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(pictures["bomb"], frames / "0001.png")
    result = nst("video", frames, pictures["style"], "-o", tmp_path / "v.gif", "--size", 32, "--iterations", 1,
                 "--quiet", models_dir=tiny_models_dir)
    one_line_error(result, BOMB_MESSAGE)


def test_upscale_of_a_bomb_or_into_the_root_is_one_line(tiny_models_dir, pictures, result, tmp_path):
    bomb = nst("upscale", pictures["bomb"], "--size", 4000, "-o", tmp_path / "x.png", models_dir=tiny_models_dir)
    one_line_error(bomb, BOMB_MESSAGE)
    assert bomb.returncode == 1
    root = nst("upscale", result, "--size", 64, "-o", "/", "--content", pictures["content"], "--style",
               pictures["style"], models_dir=tiny_models_dir)
    one_line_error(root, "-o / is a folder: give a file name")
    assert root.returncode == 1


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_content_that_is_not_a_regular_file_is_refused_at_once(tiny_models_dir, pictures, tmp_path, kind):
    if kind == "device":
        path = Path("/dev/zero")
        if not path.exists():
            pytest.skip("no /dev/zero")
    else:
        path = tmp_path / "photo.png"
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    result = nst(*quick({**pictures, "content": path}, tmp_path / "o.png"), models_dir=tiny_models_dir, timeout=60)
    one_line_error(result, f"{path} is not a regular file (a device, pipe or socket)")


# ---- shares --------------------------------------------------------------------------------------

def test_huge_blend_shares_are_refused_in_one_line(tiny_models_dir, pictures, tmp_path):
    result = nst(*quick(pictures, tmp_path / "o.png"), pictures["style"], "--style-blend", "1e308,1e308",
                 models_dir=tiny_models_dir)
    one_line_error(result, "--style-blend shares must be at most 1e+06")
    with pytest.raises(NstError, match="at most 1e"):
        StylizeOptions(style_blend=(1e308, 1e308)).validate()


def test_blend_shares_are_normalised_without_overflow():
    huge = StylizeOptions.__new__(StylizeOptions)  # shares as a run reads them, past validation
    object.__setattr__(huge, "style_blend", (1.7e308, 1.7e308, 0.0))
    assert blend_shares(huge, 3, masked=False) == (0.5, 0.5, 0.0)
    assert blend_shares(StylizeOptions(style_blend=(3.0, 1.0)), 2, masked=False) == (0.75, 0.25)
    assert blend_shares(StylizeOptions(style_blend=(3.0, 1.0)), 2, masked=True) == (3.0, 1.0)


# ---- a stop while the command is still loading ------------------------------------------------------

def _caught_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
@pytest.mark.parametrize("name, code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_stop_while_the_command_loads_is_one_line(tiny_models_dir, pictures, tmp_path, name, code):
    """The entry point answers stop signals before it loads anything heavy: once SIGTERM is caught
    (Python itself never catches it), onnxruntime is not loaded yet, and a stop then is one line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir))
    process = subprocess.Popen([sys.executable, "-m", "nst_ort", *map(str, quick(pictures, tmp_path / "o.png"))],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        while process.poll() is None and not _caught_signals(process.pid) & (1 << (signal.SIGTERM - 1)):
            pass
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        process.send_signal(getattr(signal, name))
    except (FileNotFoundError, ProcessLookupError):
        pytest.fail("the command ended before it handled any stop signal")
    rest = process.communicate(timeout=60)[1]
    assert "onnxruntime" not in maps, "stop signals are handled before the heavy modules load"
    assert process.returncode == code, rest
    assert rest.strip().splitlines() == [f"stopped by {name}: nothing was written"]
    assert not (tmp_path / "o.png").exists()


def test_the_python_api_resumes_with_outputs_named_as_the_cli_does(tiny_models_dir, stopped, tmp_path):
    import nst_ort

    far = tmp_path / "far"
    run_dir = crafted(stopped, tmp_path, str(far / "x.png"))
    with pytest.raises(NstError, match="where the run folder is"):
        nst_ort.resume(run_dir, models_dir=tiny_models_dir)
    chosen = tmp_path / "chosen.png"
    nst_ort.resume(run_dir, models_dir=tiny_models_dir, output=chosen)
    assert chosen.is_file() and not far.exists() and not run_dir.exists()
