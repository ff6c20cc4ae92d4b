"""nst-ort deletes or overwrites nothing but the outputs the user named and the run folders it
made: the defects a hostile user found, each tried as a user would (real processes)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_base.errors import NstError
from nst_base.locks import PathLocks
from nst_ort.io.images import read_settings
from nst_ort.jobs.run_folder import RunFolder
from tests.helpers import one_line_error, nst
from tests.helpers import declared_png
from tests.helpers import start_nst, stop_a_run, stylize_args
from tests.tiny import random_images


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    return random_images(tmp_path_factory.mktemp("safety-images"), {"content": (64, 48), "style": (40, 40)}, seed=3)


def user_folder(path: Path) -> dict[str, bytes]:
    """A folder of the user's: a file, a subfolder with a file, a `frames/` of their own."""
    (path / "sub").mkdir(parents=True)
    (path / "frames").mkdir()
    files = {"notes.txt": b"mine", "sub/photo.jpg": b"\xff\xd8 not really", "frames/0001.png": b"their frame"}
    for name, data in files.items():
        (path / name).write_bytes(data)
    return files


def assert_untouched(path: Path, files: dict[str, bytes], mode: int | None = None) -> None:
    assert path.is_dir()
    for name, data in files.items():
        assert (path / name).read_bytes() == data, name
    if mode is not None:
        assert stat.S_IMODE(path.stat().st_mode) == mode


def quick(pictures: dict[str, Path], out: Path, *extra) -> list:
    return ["stylize", pictures["content"], pictures["style"], "-o", out, "--size", 32, "--iterations", 3,
            "--scales", 1, "--threads", 1, "--quiet", *extra]


# ---- 1. an existing folder given as a video's output ----------------------------------------

@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    frames = [Image.fromarray((np.random.default_rng(i).random((24, 32, 3)) * 255).astype(np.uint8)) for i in range(3)]
    frames[0].save(folder / "clip.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return folder / "clip.gif"


def _video(clip: Path, style: Path, out: Path, *extra) -> list:
    return ["video", clip, style, "-o", out, "--size", 32, "--iterations", 2, "--frame-iterations", 2,
            "--threads", 1, "--quiet", *extra]


def test_video_into_a_folder_of_the_users_is_refused_and_nothing_is_touched(tiny_models_dir, pictures, clip, tmp_path):
    folder = tmp_path / "existing"
    files = user_folder(folder)
    os.chmod(folder, 0o755)
    result = nst(*_video(clip, pictures["style"], folder), models_dir=tiny_models_dir)
    one_line_error(result, "holds files nst-ort did not write")
    assert_untouched(folder, files, 0o755)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_video_into_an_empty_folder_keeps_it_and_a_rerun_replaces_only_its_frames(tiny_models_dir, pictures, clip,
                                                                                  tmp_path):
    folder = tmp_path / "frames_out"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    for _ in range(2):  # the second run writes over the first one's frames (its own output)
        result = nst(*_video(clip, pictures["style"], folder), models_dir=tiny_models_dir)
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
            f"frame_{i:06d}.png" for i in (1, 2, 3)]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    (folder / "mine.txt").write_text("added by the user")
    one_line_error(nst(*_video(clip, pictures["style"], folder), models_dir=tiny_models_dir), "mine.txt")


def test_a_new_video_folder_gets_the_usual_mode(tiny_models_dir, pictures, clip, tmp_path):
    folder = tmp_path / "new_out"
    assert nst(*_video(clip, pictures["style"], folder), models_dir=tiny_models_dir).returncode == 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_video_dot_outputs_are_one_line(tiny_models_dir, pictures, clip, tmp_path):
    for name in (".", ".."):
        result = nst(*_video(clip, pictures["style"], Path(name)), models_dir=tiny_models_dir)
        one_line_error(result, "holds files nst-ort did not write")


def test_a_folder_of_frames_is_taken_whole_at_its_fps(tiny_models_dir, pictures, tmp_path):
    source = tmp_path / "frames_in"
    source.mkdir()
    for index in range(8):
        Image.fromarray((np.random.default_rng(index).random((24, 32, 3)) * 255).astype(np.uint8)).save(
            source / f"f{index:02d}.png")
    for extra in ((), ("--fps", "8")):
        out = tmp_path / f"out{len(extra)}"
        result = nst(*_video(source, pictures["style"], out, *extra), models_dir=tiny_models_dir)
        assert result.returncode == 0, result.stderr
        assert len(list(out.glob("frame_*.png"))) == 8  # every frame, whatever the rate


# ---- 2. an existing folder given as --checkpoint ------------------------------------------------

def test_a_checkpoint_folder_of_the_users_is_refused_before_any_work(tiny_models_dir, pictures, tmp_path):
    folder = tmp_path / "mine"
    files = user_folder(folder)
    result = nst(*quick(pictures, tmp_path / "out.png", "--checkpoint", folder), models_dir=tiny_models_dir)
    one_line_error(result, "holds files nst-ort did not write")
    assert_untouched(folder, files)
    assert not (tmp_path / "out.png").exists()


def test_an_empty_checkpoint_folder_is_used_and_kept(tiny_models_dir, pictures, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = nst(*quick(pictures, tmp_path / "out.png", "--checkpoint", folder, "--gif", tmp_path / "a.gif",
                        "--gif-every", 1, "--checkpoint-every", "0.001s"), models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert folder.is_dir() and not any(folder.iterdir()), "the user's folder stays, emptied of what the run kept"


def test_clearing_a_run_folder_removes_only_its_own_files(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.create({"job": {}})
    (folder.frames).mkdir()
    (folder.frames / "01_000001.png").write_bytes(b"frame")
    (folder.frames / "keep.png").write_bytes(b"not ours")
    (folder.path / "later.txt").write_text("added by the user meanwhile")
    folder.clear()
    assert (folder.frames / "keep.png").is_file() and (folder.path / "later.txt").is_file()
    assert not folder.run_file.exists() and not (folder.frames / "01_000001.png").exists()
    RunFolder(tmp_path).clear()  # not a run folder: nothing happens
    assert (folder.path / "later.txt").is_file()


def test_a_run_started_over_in_the_folder_a_stopped_run_made_removes_it_in_the_end(tmp_path):
    """A run stopped before its first checkpoint leaves its run.json; the run that starts over in
    that folder made no folder itself, but the folder is still a run's and goes when it ends."""
    RunFolder(tmp_path / "run").create({"job": {}})  # stopped here
    again = RunFolder(tmp_path / "run")
    again.create({"job": {}})
    again.clear()
    assert not again.path.exists()
    kept = RunFolder(tmp_path / "mine")
    kept.path.mkdir()
    kept.create({"job": {}})
    RunFolder(kept.path).create({"job": {}})
    kept.clear()
    assert kept.path.is_dir(), "a folder the user made stays"


def test_a_stop_while_a_run_folder_is_made_leaves_no_folder(tmp_path, monkeypatch):
    """A stop signal between making a run folder and writing its run.json would leave an empty
    folder that no later run could tell from one of the user's (so it would stay for good)."""
    from pathlib import Path

    real = Path.write_text

    def stopped(self, *args, **kwargs):
        if self.name == "run.json":
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", stopped)
    with pytest.raises(KeyboardInterrupt):
        RunFolder(tmp_path / "runs" / "a.nst-run").create({"job": {}})
    assert list((tmp_path / "runs").iterdir()) == []


# ---- 3. nst resume re-checks the outputs run.json names -----------------------------------------

@pytest.fixture(scope="module")
def stopped(tiny_models_dir, pictures, tmp_path_factory) -> tuple[Path, Path]:
    """(run folder, content) of a run stopped by SIGTERM; tests edit copies of the folder."""
    # stopped a little after its first iteration, so the checkpoint holds the optimiser's state
    return stop_a_run(pictures, tmp_path_factory.mktemp("stopped"), tiny_models_dir, progress_lines=2)


def _edited_copy(stopped: tuple[Path, Path], tmp_path: Path, change) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(stopped[0], run_dir)
    data = json.loads((run_dir / "run.json").read_text())
    data["job"]["outputs"]["image"] = str(tmp_path / "out.png")  # the copy's own place
    change(data["job"])
    (run_dir / "run.json").write_text(json.dumps(data))
    return run_dir


@pytest.mark.parametrize("field, value, message", [
    ("image", "{tmp}/out.txt", "cannot write .txt"),
    ("image", "{tmp}/noext", "cannot write files without an extension"),
    ("report", "{tmp}/r.png", "cannot write .png; use .json"),
    ("image", "{tmp}/../out.png", "outside"),
    ("gif", "/sys/out.gif", "outside"),
])
def test_resume_refuses_outputs_a_new_command_would_refuse(tiny_models_dir, stopped, tmp_path, field, value, message):
    content = stopped[1]
    run_dir = _edited_copy(stopped, tmp_path, lambda job: job["outputs"].update(
        {field: value.format(content=content, tmp=tmp_path)}))
    before = content.read_bytes()
    result = nst("resume", run_dir, models_dir=tiny_models_dir)
    one_line_error(result, message)
    assert "resuming" not in result.stderr, "refused before any work"
    assert content.read_bytes() == before


@pytest.mark.parametrize("flag, value, message", [
    ("-o", "{content}", "is one of the inputs"),
    ("--report", "{content}", "cannot write .png; use .json"),
    ("--gif", "/sys/out.gif", "permission denied"),
])
def test_resume_checks_the_outputs_given_to_it(tiny_models_dir, stopped, tmp_path, flag, value, message):
    run_dir = _edited_copy(stopped, tmp_path, lambda job: None)
    before = stopped[1].read_bytes()
    result = nst("resume", run_dir, flag, value.format(content=stopped[1]), models_dir=tiny_models_dir)
    one_line_error(result, message)
    assert "resuming" not in result.stderr and stopped[1].read_bytes() == before


@pytest.mark.parametrize("change, message", [
    (lambda job: job["options"].update(size="big"), "the run description is damaged"),
    (lambda job: job["options"].update(style_layers=[["relu1_1", "x"]]), "the run description is damaged"),
    (lambda job: job["options"].update(optimizer="adam"), "holds no adam state"),
    (lambda job: job["options"].update(content_layers=[["foo", 1.0]]), "'foo' is not a layer"),
    (lambda job: job.update(outputs=[]), "the run description is damaged"),
])
def test_resume_of_an_edited_run_description_is_one_line(tiny_models_dir, stopped, tmp_path, change, message):
    run_dir = _edited_copy(stopped, tmp_path, change)
    assert RunFolder(run_dir).read().snapshot is not None, "the stopped run kept its optimiser state"
    result = nst("resume", run_dir, models_dir=tiny_models_dir)
    one_line_error(result, message)
    assert result.returncode == 1


# ---- 4. outputs that cannot be written ------------------------------------------------------------

@pytest.mark.parametrize("option", ["-o", "--gif", "--report"])
def test_an_unwritable_output_is_found_before_any_work(tiny_models_dir, pictures, tmp_path, option):
    suffix = {"-o": "png", "--gif": "gif", "--report": "json"}[option]
    args = quick(pictures, tmp_path / "out.png")
    target = Path("/sys/nst-test/missing") / f"out.{suffix}"  # unwritable even for root
    args[args.index("-o") + 1] = target if option == "-o" else args[args.index("-o") + 1]
    extra = [option, target] if option != "-o" else []
    started = time.perf_counter()
    result = nst(*args, *extra, models_dir=tiny_models_dir)
    one_line_error(result, f"cannot write {target}")
    assert "stylizing" not in result.stderr and time.perf_counter() - started < 60


def test_an_output_that_fails_at_the_end_keeps_the_run_to_resume(tiny_models_dir, pictures, tmp_path):
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "final.png"
    process = start_nst(stylize_args(pictures, out, "--checkpoint", run_dir), tiny_models_dir)
    out_dir.rename(tmp_path / "moved")
    out_dir.write_text("now a file: the output cannot be written")
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 1, rest
    assert f"the run is kept in {run_dir}" in rest.splitlines()[-1] and "Traceback" not in rest
    assert (run_dir / "checkpoint.npz").is_file()
    assert f"`nst resume {run_dir} -o {out}` writes it" in rest.splitlines()[-1]
    out_dir.unlink()
    out_dir.mkdir()
    refused = nst("resume", run_dir, "--quiet", models_dir=tiny_models_dir)
    one_line_error(refused, f"pass `nst resume {run_dir} -o {out}` to write there")
    resumed = nst("resume", run_dir, "-o", out, "--quiet", models_dir=tiny_models_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert Image.open(out).size == (64, 48) and not run_dir.exists()


# ---- 5. locks: one run per output and per run folder ---------------------------------------------

@pytest.mark.long
def test_a_second_run_on_a_busy_output_is_refused_and_the_first_goes_on(tiny_models_dir, pictures, tmp_path):
    out, run_dir = tmp_path / "out.png", tmp_path / "out.png.nst-run"
    first = start_nst(stylize_args(pictures, out), tiny_models_dir)
    first.send_signal(signal.SIGSTOP)  # frozen with its locks held: no race with its end
    try:
        second = nst(*stylize_args(pictures, out, "--checkpoint", tmp_path / "other"), models_dir=tiny_models_dir)
        one_line_error(second, f"in use by another nst-ort run (process {first.pid})")
        restarted = nst(*stylize_args(pictures, tmp_path / "elsewhere.png", "--checkpoint", run_dir, "--restart"),
                        models_dir=tiny_models_dir)
        one_line_error(restarted, "is in use by another nst-ort run")
        assert (run_dir / "run.json").is_file(), "--restart beside a live run touched nothing"
    finally:
        first.send_signal(signal.SIGCONT)
    first.send_signal(signal.SIGTERM)
    rest = first.communicate(timeout=60)[1]
    assert first.returncode == 143, rest
    assert (run_dir / "run.json").is_file() and (run_dir / "checkpoint.npz").is_file()
    assert not (tmp_path / "other").exists() and not (tmp_path / "elsewhere.png").exists()
    resumer = start_nst(["resume", run_dir], tiny_models_dir, wait_for="resuming")
    resumer.send_signal(signal.SIGSTOP)
    try:
        one_line_error(nst("resume", run_dir, models_dir=tiny_models_dir), "is in use by another nst-ort run")
    finally:
        resumer.send_signal(signal.SIGCONT)
    resumer.communicate(timeout=120)
    assert resumer.returncode == 0 and out.is_file() and not run_dir.exists()


def test_locks_are_released_with_the_process_and_name_the_holder(tmp_path):
    target = tmp_path / "out.png"
    with PathLocks([target], folder=tmp_path / "locks"):
        # flock is per open file: a second PathLocks in this process conflicts like another process
        with pytest.raises(NstError, match=f"process {os.getpid()}"):
            PathLocks([tmp_path / "." / "out.png"], folder=tmp_path / "locks").acquire()
    with PathLocks([target], folder=tmp_path / "locks"):
        pass


# ---- 8, 11. signals --------------------------------------------------------------------------------

def test_two_quick_ctrl_c_still_keep_the_image_and_the_checkpoint(tiny_models_dir, pictures, tmp_path):
    out = tmp_path / "out.png"
    process = start_nst(stylize_args(pictures, out), tiny_models_dir)
    process.send_signal(signal.SIGINT)
    time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=60)[1]
    run_dir = tmp_path / "out.png.nst-run"
    assert process.returncode == 130, rest
    assert "saved the best image" in rest and out.is_file()
    assert (run_dir / "checkpoint.npz").is_file()
    assert not [p.name for p in tmp_path.rglob("*.tmp")]


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5])
def test_an_early_sigterm_exits_143_not_130(tiny_models_dir, pictures, tmp_path, delay):
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir))
    process = subprocess.Popen([sys.executable, "-m", "cli", *map(str, stylize_args(pictures, tmp_path / "o.png"))],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=60)[1]
    assert process.returncode in (143, -signal.SIGTERM), rest  # -15: killed before Python set any handler
    assert "Traceback" not in rest
    if process.returncode == 143:
        assert rest.strip(), "a stop is said, not silent"


# ---- 9, 12, 13. decoding, metadata, small things ---------------------------------------------------

def test_the_decode_guard_follows_max_memory(tiny_models_dir, pictures, tmp_path):
    bomb = tmp_path / "bomb.png"
    declared_png(bomb, 13000, 13000)  # 1.3 GB decoded from a tiny file (under the 179 MP ceiling)
    result = nst(*quick({**pictures, "content": bomb}, tmp_path / "o.png", "--size", 128, "--max-memory", "1G"),
                 models_dir=tiny_models_dir)
    one_line_error(result, "allowed by --max-memory")


def test_results_name_their_inputs_without_their_folders_unless_asked(tiny_models_dir, pictures, tmp_path):
    plain, full = tmp_path / "plain.png", tmp_path / "full.png"
    assert nst(*quick(pictures, plain), models_dir=tiny_models_dir).returncode == 0
    assert nst(*quick(pictures, full, "--record-paths"), models_dir=tiny_models_dir).returncode == 0
    settings = read_settings(plain)
    assert settings["content"] == pictures["content"].name and settings["styles"] == [pictures["style"].name]
    assert str(pictures["content"].parent) not in json.dumps(settings)
    assert read_settings(full)["content"] == str(pictures["content"].absolute())


def test_upscale_finds_inputs_named_by_file_name(tiny_models_dir, pictures, tmp_path):
    chosen = pictures["content"].parent / "chosen_for_upscale.png"
    assert nst(*quick(pictures, chosen), models_dir=tiny_models_dir).returncode == 0
    result = nst("upscale", chosen, "-o", tmp_path / "print.png", "--size", 64, "--iterations", 2, "--threads", 1,
                 "--quiet", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    alone = tmp_path / "alone.png"
    alone.write_bytes(chosen.read_bytes())
    one_line_error(nst("upscale", alone, "-o", tmp_path / "p2.png", "--size", 64, models_dir=tiny_models_dir),
                    "give it with --content")


def test_dot_dot_output_is_a_folder(tiny_models_dir, pictures):
    one_line_error(nst(*quick(pictures, Path("..")), models_dir=tiny_models_dir), "is a folder")


def test_sheet_refuses_negative_columns(tiny_models_dir, pictures, tmp_path):
    one_line_error(nst("sheet", pictures["content"], pictures["style"], "-o", tmp_path / "s.png", "--columns", "-3",
                        models_dir=tiny_models_dir), "--columns must be >= 0")


def test_export_never_replaces_a_folder_it_did_not_make(tmp_path):
    models = tmp_path / "models"
    files = user_folder(models / "vgg16")
    result = nst("export", "--models-dir", models)
    one_line_error(result, "was not made by nst-ort")
    assert_untouched(models / "vgg16", files)


def test_a_run_killed_before_its_first_checkpoint_does_not_block_the_next(tiny_models_dir, pictures, tmp_path):
    out, run_dir = tmp_path / "out.png", tmp_path / "out.png.nst-run"
    RunFolder(run_dir).create({"job": {}})  # what a SIGKILL before the first checkpoint leaves
    result = nst(*quick(pictures, out), models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert out.is_file() and not run_dir.exists()


def test_a_run_that_fails_leaves_no_run_folder(tiny_models_dir, pictures, tmp_path):
    out = tmp_path / "out.png"
    one_line_error(nst(*quick(pictures, out, "--init", pictures["content"].parent / "gone.png"),
                        models_dir=tiny_models_dir), "--init")
    one_line_error(nst(*quick(pictures, out, "--max-memory", "64M", "--tile", "0"), models_dir=tiny_models_dir),
                    "--max-memory")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
