"""Checkpoints and resume: an interrupted run, resumed, is the run that was never interrupted."""

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

import nst_ort.core.levels as transfer
from nst_base.errors import NstError
from nst_base.model_store import open_model
from nst_ort.core.optimize import OptimizerSettings, optimize
from nst_ort.jobs.run_folder import Checkpointer, RunFolder
from nst_ort.core.levels import StylizeOptions, stylize
from tests.helpers import ROOT, nst, one_line_error, start_nst, stop_a_run, stylize_args
from tests.test_optimize import _InterruptAfter
from tests.test_optimize import engine as engine  # noqa: F401 - the tiny engine fixture
from tests.tiny import random_images

METHODS = {"lbfgs": {}, "adam": {"learning_rate": 0.02}, "sgd": {"learning_rate": 0.5}}


@pytest.mark.parametrize("method", METHODS)
def test_optimizer_state_round_trips_through_a_snapshot(engine, method):  # noqa: F811
    runner, content = engine
    settings = OptimizerSettings(iterations=12, method=method, **METHODS[method])
    whole = optimize(runner, content, settings)
    snapshots = []
    first = optimize(_InterruptAfter(runner, count=8), content, settings, on_snapshot=snapshots.append)
    assert first.interrupted and snapshots
    resumed = optimize(runner, content, settings, resume=snapshots[-1])
    assert [p.loss for p in resumed.history] == [p.loss for p in whole.history]
    np.testing.assert_array_equal(resumed.image, whole.image)
    assert resumed.evaluations == whole.evaluations


class _InterruptAtEvaluation:
    """Makes every engine transfer.stylize builds raise KeyboardInterrupt at the run's Nth evaluation."""

    def __init__(self, make_engine, at: int) -> None:
        self.make_engine, self.at, self.count = make_engine, at, 0

    def __call__(self, *args, **kwargs):
        return _Counted(self.make_engine(*args, **kwargs), self)


class _Counted:
    def __init__(self, engine, counter: _InterruptAtEvaluation) -> None:
        self.engine, self.counter, self.name = engine, counter, engine.name

    def evaluate(self, pixels):
        self.counter.count += 1
        if self.counter.count == self.counter.at:
            raise KeyboardInterrupt
        return self.engine.evaluate(pixels)


@pytest.fixture(scope="module")
def pictures():
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)) for size in ((40, 56, 3), (48, 48, 3))]


def _options(method: str) -> StylizeOptions:
    return StylizeOptions(size=56, iterations=5, scales=2, optimizer=method, threads=1, engine="portable",
                          style_layers=(("relu1_1", 1.0), ("relu2_1", 1.0), ("relu3_1", 1.0)),
                          **METHODS[method])


# where the run is stopped: (evaluation to stop at, given level 1's evaluations; expected checkpoint position)
INTERRUPTIONS = {
    "first iteration": (lambda first: 1, (1, 0)),
    "mid-level": (lambda first: first // 2 + 1, (1, None)),
    "between levels": (lambda first: first + 1, (2, 0)),
    "mid second level": (lambda first: first + 3, (2, None)),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("where", INTERRUPTIONS)
def test_a_resumed_run_equals_an_uninterrupted_one(tiny_models_dir, pictures, tmp_path, monkeypatch, method, where):
    model = open_model(tiny_models_dir / "vgg16")
    content, style = pictures
    options = _options(method)
    whole = stylize(content, [style], model, options)
    first_level_evaluations = [e for e in whole.report["iterations"] if e["level"] == 1][-1]["evaluations"]
    stop_at, (level, done) = INTERRUPTIONS[where]
    folder = RunFolder(tmp_path / "run")
    with monkeypatch.context() as patch:
        patch.setattr(transfer, "make_engine",
                      _InterruptAtEvaluation(transfer.make_engine, stop_at(first_level_evaluations)))
        stopped = stylize(content, [style], model, options, checkpoints=Checkpointer(folder, {"test": 1}, every=3600))
    assert stopped.outcome.interrupted
    checkpoint = folder.read()
    assert checkpoint.position[0] == level and (done is None or checkpoint.position[1] == done)
    assert done is not None or 0 < checkpoint.position[1] < options.iterations
    resumed = stylize(content, [style], model, options, checkpoints=Checkpointer(folder, {"test": 1}, every=3600),
                      resume=checkpoint)
    assert not resumed.outcome.interrupted
    assert [e["loss"] for e in resumed.report["iterations"]] == [e["loss"] for e in whole.report["iterations"]]
    assert [(e["level"], e["iteration"]) for e in resumed.report["iterations"]] == \
        [(e["level"], e["iteration"]) for e in whole.report["iterations"]]
    assert resumed.report["evaluations"] == whole.report["evaluations"]
    np.testing.assert_array_equal(np.asarray(resumed.image), np.asarray(whole.image))


def test_checkpoints_are_written_on_time_and_hold_no_targets(tiny_models_dir, pictures, tmp_path):
    model = open_model(tiny_models_dir / "vgg16")
    ticks = iter(range(10**6))
    checkpointer = Checkpointer(RunFolder(tmp_path / "run"), {"test": 1}, every=4, clock=lambda: next(ticks))
    stylize(*[pictures[0]], [pictures[1]], model, _options("lbfgs"), checkpoints=checkpointer)
    assert 2 <= len(checkpointer.writes) <= 4  # about one per 4 updates (12 updates: 2 level starts + 10 iterations)
    with np.load(tmp_path / "run" / "checkpoint.npz") as archive:
        names = set(archive.files)
    assert not any("target" in name for name in names)
    assert {"meta", "best_image", "method/x", "method/g"} <= names


def _kill_while_writing(folder: Path, delay: float) -> None:
    script = (
        "import sys, numpy as np\n"
        "from nst_ort.core.optimize import Snapshot\n"
        "from nst_ort.core.checkpoint import Checkpoint\nfrom nst_ort.jobs.run_folder import RunFolder\n"
        "folder = RunFolder(__import__('pathlib').Path(sys.argv[1]))\n"
        "big = np.random.default_rng(0).random((3, 1200, 1600), dtype=np.float32)\n"
        "for n in range(10**6):\n"
        "    snap = Snapshot({'x': big + n}, big, float(n), n, 0.0, ())\n"
        "    folder.write(Checkpoint(0, None, snap, (), n, 0.0))\n"
        "    print(n, flush=True)\n")
    process = subprocess.Popen([sys.executable, "-c", script, str(folder.path)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    process.stdout.readline()  # one checkpoint is complete
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.13, 0.31])
def test_sigkill_mid_write_leaves_the_previous_checkpoint_usable(tmp_path, delay):
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    _kill_while_writing(folder, delay)
    checkpoint = folder.read()
    n = checkpoint.evaluations
    assert checkpoint.snapshot.best_loss == n
    np.testing.assert_array_equal(checkpoint.snapshot.method["x"], checkpoint.snapshot.best_image + n)


# ---- the command line ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_images(tmp_path_factory) -> dict[str, Path]:
    return random_images(tmp_path_factory.mktemp("resume-images"), {"content": (64, 48), "style": (40, 40)}, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_signalled_run_resumes_to_the_uninterrupted_image(tiny_models_dir, cli_images, tmp_path, name, code):
    whole = tmp_path / "whole.png"
    assert nst(*stylize_args(cli_images, whole, "--report", tmp_path / "whole.json", "--quiet",
                          "--gif", tmp_path / "whole.gif", "--gif-every", 50),
               models_dir=tiny_models_dir).returncode == 0
    out, gif = tmp_path / "out.png", tmp_path / "out.gif"
    process = start_nst(stylize_args(cli_images, out, "--report", tmp_path / "out.json", "--gif", gif, "--gif-every", 50),
                     tiny_models_dir, wait_for="scale 2/2")
    process.send_signal(getattr(signal, name))
    rest = process.communicate(timeout=60)[1]
    assert process.returncode == code, rest
    run_dir = tmp_path / "out.png.nst-run"
    assert f"nst resume {run_dir}" in rest and "Traceback" not in rest
    assert Image.open(out).size == (64, 48)
    assert (run_dir / "run.json").is_file() and (run_dir / "checkpoint.npz").is_file()
    refused = nst(*stylize_args(cli_images, out), models_dir=tiny_models_dir)
    one_line_error(refused, f"nst resume {run_dir}")
    resumed = nst("resume", run_dir, models_dir=tiny_models_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "level 2" in resumed.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(whole)))
    reports = [json.loads((tmp_path / name).read_text()) for name in ("whole.json", "out.json")]
    assert [e["loss"] for e in reports[0]["iterations"]] == [e["loss"] for e in reports[1]["iterations"]]
    with Image.open(gif) as animation, Image.open(tmp_path / "whole.gif") as reference:
        # frames from before the stop are kept (identical frames of a converged level are merged by the GIF writer)
        assert animation.n_frames == reference.n_frames >= 2
        for index in range(reference.n_frames):
            animation.seek(index)
            reference.seek(index)
            assert np.array_equal(np.asarray(animation.convert("RGB")), np.asarray(reference.convert("RGB")))
    assert not run_dir.exists(), "a finished run's folder is removed"


@pytest.fixture()
def stopped_run(tiny_models_dir, cli_images, tmp_path) -> Path:
    return stop_a_run(cli_images, tmp_path, tiny_models_dir)[0]


def test_resume_refuses_a_changed_input(tiny_models_dir, stopped_run, tmp_path):
    Image.new("RGB", (64, 48), "red").save(tmp_path / "content.png")
    one_line_error(nst("resume", stopped_run, models_dir=tiny_models_dir), "changed since the run began")
    (tmp_path / "content.png").unlink()
    one_line_error(nst("resume", stopped_run, models_dir=tiny_models_dir), "missing")


def test_resume_refuses_a_changed_model(stopped_run, tmp_path):
    from tests.tiny import write_tiny_model

    other = tmp_path / "other-models"
    write_tiny_model(other / "vgg16", seed=7)
    one_line_error(nst("resume", stopped_run, models_dir=other), "model")


def test_resume_refuses_a_truncated_checkpoint(tiny_models_dir, stopped_run):
    data = (stopped_run / "checkpoint.npz").read_bytes()
    (stopped_run / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    one_line_error(nst("resume", stopped_run, models_dir=tiny_models_dir), "corrupt")


@pytest.mark.parametrize("content", [None, "{}", "not json", '{"kind": "nst-ort run", "format": 99}'])
def test_resume_refuses_a_foreign_folder(tiny_models_dir, tmp_path, content):
    folder = tmp_path / "somewhere"
    folder.mkdir()
    if content is not None:
        (folder / "run.json").write_text(content)
    result = nst("resume", folder, models_dir=tiny_models_dir)
    one_line_error(result, str(folder))


def test_resume_of_a_missing_folder(tiny_models_dir, tmp_path):
    one_line_error(nst("resume", tmp_path / "nothing", models_dir=tiny_models_dir), "not a folder")


def test_restart_replaces_an_unfinished_run(tiny_models_dir, cli_images, stopped_run):
    out = stopped_run.parent / "out.png"
    result = nst(*stylize_args(cli_images, out, "--restart", "--iterations", 3, "--quiet"), models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert not stopped_run.exists()


def test_python_api_checkpoints_and_resumes(tiny_models_dir, cli_images, tmp_path, monkeypatch):
    import nst_ort

    kwargs = dict(models_dir=tiny_models_dir, size=64, iterations=6, scales=2, threads=1, engine="portable")
    whole = nst_ort.stylize(cli_images["content"], cli_images["style"], **kwargs)
    run_dir = tmp_path / "api-run"
    with monkeypatch.context() as patch:
        patch.setattr(transfer, "make_engine", _InterruptAtEvaluation(transfer.make_engine, 10))
        stopped = nst_ort.stylize(cli_images["content"], cli_images["style"], checkpoint=run_dir, **kwargs)
    assert stopped.outcome.interrupted and (run_dir / "checkpoint.npz").is_file()
    resumed = nst_ort.resume(run_dir, models_dir=tiny_models_dir)
    np.testing.assert_array_equal(np.asarray(resumed.image), np.asarray(whole.image))
    assert not run_dir.exists()
    with pytest.raises(NstError, match="as files"):
        nst_ort.stylize(Image.open(cli_images["content"]), cli_images["style"], checkpoint=run_dir, **kwargs)


def test_a_failing_checkpoint_write_warns_and_the_run_goes_on(tiny_models_dir, pictures, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    messages = []
    checkpointer = Checkpointer(RunFolder(blocker / "run"), {"test": 1}, every=0, notify=messages.append)
    result = stylize(pictures[0], [pictures[1]], open_model(tiny_models_dir / "vgg16"), _options("adam"),
                     checkpoints=checkpointer)
    assert not result.outcome.interrupted and len(result.outcome.history) == 10  # two levels of 5
    assert messages and all("checkpoint not written" in m for m in messages)


class _StopAt:
    """A progress callback that stops the run (as Ctrl-C would) at (level, iteration)."""

    def __init__(self, level: int, iteration: int) -> None:
        self.at = (level, iteration)

    def __call__(self, progress, pixels) -> None:
        if (progress.level, progress.iteration) == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("conv", ["direct", "winograd"])
def test_a_tiled_masked_two_style_run_resumes_exactly(tiny_models_dir, pictures, tmp_path, conv):
    model = open_model(tiny_models_dir / "vgg16")
    content, style = pictures
    other = style.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    masks = [Image.fromarray(np.where(np.arange(40) < 20, 255, 0).astype(np.uint8)[None].repeat(56, 0))]
    masks.append(Image.fromarray(255 - np.asarray(masks[0])))
    options = StylizeOptions(**{**_options("lbfgs").__dict__, "tile": 32, "conv": conv})
    whole = stylize(content, [style, other], model, options, masks=masks)
    assert "tiles of 32 px" in whole.report["levels"][-1]["plan"]
    assert ("Winograd" in whole.report["levels"][-1]["plan"]) == (conv == "winograd")
    folder = RunFolder(tmp_path / "run")
    stopped = stylize(content, [style, other], model, options, on_progress=_StopAt(2, 3), masks=masks,
                      checkpoints=Checkpointer(folder, {"test": 1}, every=3600))
    assert stopped.outcome.interrupted and folder.read().position == (2, 2)
    resumed = stylize(content, [style, other], model, options, masks=masks, resume=folder.read())
    assert [e["loss"] for e in resumed.report["iterations"]] == [e["loss"] for e in whole.report["iterations"]]
    np.testing.assert_array_equal(np.asarray(resumed.image), np.asarray(whole.image))


def test_a_stop_while_a_level_prepares_keeps_the_run(tiny_models_dir, pictures, tmp_path, monkeypatch):
    model = open_model(tiny_models_dir / "vgg16")
    content, style = pictures
    options = _options("adam")
    whole = stylize(content, [style], model, options)
    real, calls = transfer.loss_inputs, []

    def stop_on_second_level(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    folder = RunFolder(tmp_path / "run")
    with monkeypatch.context() as patch:
        patch.setattr(transfer, "loss_inputs", stop_on_second_level)
        stopped = stylize(content, [style], model, options, checkpoints=Checkpointer(folder, {"test": 1}, every=3600))
    assert stopped.outcome.interrupted and stopped.outcome.image.shape == (3, 20, 28)  # the first level's result
    resumed = stylize(content, [style], model, options, resume=folder.read())
    np.testing.assert_array_equal(np.asarray(resumed.image), np.asarray(whole.image))


def test_an_explicit_checkpoint_folder_is_used(tiny_models_dir, cli_images, tmp_path):
    run_dir = tmp_path / "elsewhere"
    process = start_nst(stylize_args(cli_images, tmp_path / "out.png", "--checkpoint", run_dir), tiny_models_dir)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143 and (run_dir / "checkpoint.npz").is_file()
    assert not (tmp_path / "out.png.nst-run").exists()
    assert nst("resume", run_dir, "--quiet", models_dir=tiny_models_dir).returncode == 0
    assert not run_dir.exists()
