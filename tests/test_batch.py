"""`nst batch`: plans (folders, TOML/JSON/CSV, grids), predictable names, reruns that skip what
is finished, failures in one line each, worker processes giving the same pictures."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_base.errors import NstError
from nst_ort.batch.plan import BatchItem, from_folders, from_plan, grid, names
from tests.helpers import ROOT, nst, one_line_error, wait_until
from tests.tiny import random_images

SMALL = ["--size", "32", "--iterations", "3", "--scales", "1", "--threads", "1"]


@pytest.fixture()
def folders(tmp_path) -> tuple[Path, Path]:
    contents, styles = tmp_path / "photos", tmp_path / "paintings"
    contents.mkdir()
    styles.mkdir()
    pictures = random_images(tmp_path, {"a": (48, 36), "b": (40, 40), "x": (40, 40), "y": (36, 48)}, seed=5)
    for name, folder in (("a", contents), ("b", contents), ("x", styles), ("y", styles)):
        pictures[name].rename(folder / f"{name}.png")
    return contents, styles


def test_a_grid_is_every_combination_and_list_options_split_on_semicolons():
    rows = grid({"style_weight": "1,2,4", "style-layers": "relu1_1,relu2_1;relu3_1", "size": 64}, "here")
    assert len(rows) == 6
    assert {row["style_weight"] for row in rows} == {"1", "2", "4"}
    assert {row["style_layers"] for row in rows} == {"relu1_1,relu2_1", "relu3_1"}
    assert grid({"style_weight": [1, 2]}, "here") == [{"style_weight": 1}, {"style_weight": 2}]
    with pytest.raises(NstError, match="here: unknown option 'colour'"):
        grid({"colour": "red"}, "here")


def test_names_show_what_varies_and_never_collide(tmp_path):
    items = [BatchItem(tmp_path / "a.png", (tmp_path / "x.png",), {"style_weight": w, "size": "64"}) for w in ("1", "2")]
    assert names(items) == ["a__x__style_weight-1", "a__x__style_weight-2"]
    twins = [BatchItem(tmp_path / one / "a.png", (tmp_path / "x.png",)) for one in ("p", "q")]
    first, second = names(twins)
    assert first != second and first.startswith("a__x__") and names(twins) == [first, second]


def test_plan_files_in_every_format_give_the_same_items(tmp_path):
    (tmp_path / "plan.csv").write_text("content,style,style-weight\na.png,x.png;y.png,\"1,3\"\nb.png,y.png,\n")
    (tmp_path / "plan.json").write_text(json.dumps([{"content": "a.png", "style": ["x.png", "y.png"],
                                                     "style_weight": [1, 3]}, {"content": "b.png", "style": "y.png"}]))
    (tmp_path / "plan.toml").write_text('[[item]]\ncontent = "a.png"\nstyle = ["x.png", "y.png"]\n'
                                        'style_weight = [1, 3]\n\n[[item]]\ncontent = "b.png"\nstyle = "y.png"\n')
    formats = ["csv", "json"] + (["toml"] if sys.version_info >= (3, 11) else [])
    for suffix in formats:
        items = from_plan(tmp_path / f"plan.{suffix}", {"size": "64"})
        assert [(i.content.name, [s.name for s in i.styles]) for i in items] == [
            ("a.png", ["x.png", "y.png"]), ("a.png", ["x.png", "y.png"]), ("b.png", ["y.png"])], suffix
        assert [float(i.options["style_weight"]) for i in items[:2]] == [1.0, 3.0]
        assert all(i.options["size"] == "64" for i in items)


@pytest.mark.parametrize("text, message", [
    ("content,style,colour\na.png,x.png,red\n", "plan.csv row 1: unknown option 'colour'"),
    ("content,style\na.png,x.png\nb.png,y.png,3\n", "plan.csv row 2: unknown option"),
    ("", "has no rows"),
])
def test_a_bad_plan_is_refused_before_any_work(tiny_models_dir, tmp_path, text, message):
    plan = tmp_path / "plan.csv"
    plan.write_text(text)
    result = nst("batch", plan, "-o", tmp_path / "out", models_dir=tiny_models_dir)
    one_line_error(result, message)
    assert not (tmp_path / "out").exists()


def test_a_folder_batch_records_failures_and_a_rerun_skips_what_is_finished(tiny_models_dir, folders, tmp_path):
    contents, styles = folders
    (styles / "broken.png").write_text("not an image")
    out = tmp_path / "out"
    args = ["batch", "--content", contents, "--style", styles, "-o", out, *SMALL, "--style-weight", "1,3"]
    first = nst(*args, models_dir=tiny_models_dir)
    assert first.returncode == 4, first.stderr  # a x broken and b x broken, at two weights
    lines = [line for line in first.stderr.splitlines() if ": failed (" in line]
    assert len(lines) == 4 and all("broken.png is not an image file" in line for line in lines)
    assert "Traceback" not in first.stderr
    index = json.loads((out / "index.json").read_text())
    assert {row["status"] for row in index} == {"done", "failed"} and len(index) == 12
    done = sorted(p.name for p in out.glob("*.png") if not p.name.startswith("sheet_"))
    assert done == [f"{c}__{s}__style_weight-{w}.png" for c in "ab" for s in "xy" for w in (1, 3)]
    assert (out / "sheet_a.png").is_file() and (out / "sheet_b.png").is_file() and (out / "index.csv").is_file()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*__*.png")}
    (styles / "broken.png").unlink()
    second = nst(*args, models_dir=tiny_models_dir)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("skipped") == 8 and "8 finished before" in second.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*__*.png")} == stamps
    assert not (out / ".runs").exists()


def test_two_worker_processes_make_the_same_pictures_as_one(tiny_models_dir, folders, tmp_path):
    contents, styles = folders
    outs = {}
    for workers in (1, 2):
        outs[workers] = tmp_path / f"out{workers}"
        result = nst("batch", "--content", contents, "--style", styles, "-o", outs[workers], *SMALL,
                     "--workers", workers, "--quiet", models_dir=tiny_models_dir)
        assert result.returncode == 0, result.stderr
    pictures = sorted(p.name for p in outs[1].glob("*__*.png"))
    assert len(pictures) == 4 and pictures == sorted(p.name for p in outs[2].glob("*__*.png"))
    for name in pictures:
        assert np.array_equal(np.asarray(Image.open(outs[1] / name)), np.asarray(Image.open(outs[2] / name))), name


def long_batch(folders, out: Path) -> list:
    """The arguments of a batch of 4 slow items into `out`."""
    contents, styles = folders
    return ["batch", "--content", contents, "--style", styles, "-o", out, "--size", "96", "--iterations", "400",
            "--scales", "2", "--threads", "1"]


def start(args: list, models_dir: Path):
    """`nst ARGS` started as a user would; its stderr read by the caller."""
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(models_dir))
    return subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.long
def test_a_stopped_batch_keeps_what_is_finished_and_resumes_the_item_it_stopped(tiny_models_dir, folders, tmp_path):
    out = tmp_path / "out"
    args = long_batch(folders, out)
    process = start(args, tiny_models_dir)
    for line in process.stderr:  # the first item finished: stop during the second
        if line.startswith("[1/4]"):
            break
    wait_until(lambda: any((out / ".runs").glob("*.nst-run")), what="the second item's run folder")
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 143, rest
    assert "finished items are kept" in rest
    statuses = {row["name"]: row["status"] for row in json.loads((out / "index.json").read_text())}
    assert list(statuses.values()).count("done") >= 1
    again = nst(*args, models_dir=tiny_models_dir)
    assert again.returncode == 0, again.stderr
    assert all(row["status"] in ("done", "skipped") for row in json.loads((out / "index.json").read_text()))
    assert not (out / ".runs").exists()


def test_from_folders_refuses_empty_or_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NstError, match="holds no images"):
        from_folders(tmp_path / "empty", tmp_path / "empty", {})
    with pytest.raises(NstError, match="is not a folder"):
        from_folders(tmp_path / "none", tmp_path / "empty", {})


# ---- on a Dask cluster: a real scheduler and worker processes on loopback ------------------------------

@pytest.mark.cluster
def test_a_cluster_makes_the_same_pictures_as_one_worker(tiny_models_dir, cluster, folders, tmp_path):
    contents, styles = folders
    outs = {}
    for where in ("local", "cluster", "shared"):
        outs[where] = tmp_path / where
        extra = {"local": [], "cluster": ["--cluster", cluster.scheduler_address],
                 "shared": ["--cluster", cluster.scheduler_address, "--shared-fs"]}[where]
        result = nst("batch", "--content", contents, "--style", styles, "-o", outs[where], *SMALL, *extra,
                     models_dir=tiny_models_dir)
        assert result.returncode == 0, result.stderr
    assert "2 workers, 4 items" in result.stderr
    pictures = sorted(p.name for p in outs["local"].glob("*__*.png"))
    assert len(pictures) == 4 and pictures == sorted(p.name for p in outs["cluster"].glob("*__*.png"))
    for name in pictures:
        local, remote, shared = (np.asarray(Image.open(outs[w] / name)) for w in ("local", "cluster", "shared"))
        assert np.array_equal(local, remote) and np.array_equal(local, shared), name
    rerun = nst("batch", "--content", contents, "--style", styles, "-o", outs["cluster"], *SMALL,
                "--cluster", cluster.scheduler_address, models_dir=tiny_models_dir)
    assert rerun.returncode == 0 and rerun.stderr.count("skipped") == 4


@pytest.mark.cluster
def test_a_worker_killed_mid_batch_loses_nothing(tiny_models_dir, cluster, folders, tmp_path):
    import subprocess

    from distributed import Client

    contents, styles = folders
    out = tmp_path / "out"
    args = ["batch", "--content", contents, "--style", styles, "-o", out, "--size", "96", "--iterations", "300",
            "--scales", "2", "--threads", "1", "--cluster", cluster.scheduler_address]
    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir))
    process = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args)], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if "2 workers, 4 items" in line:
            break
    with Client(cluster.scheduler_address) as client:
        wait_until(lambda: sum(map(len, client.processing().values())) >= 2, what="both workers inside an item")
        pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    rest = process.communicate(timeout=300)[1]
    assert process.returncode == 0, rest
    rows = json.loads((out / "index.json").read_text())
    assert [row["status"] for row in rows] == ["done"] * 4
    assert len(list(out.glob("*__*.png"))) == 4 and not list(out.glob(".*.tmp"))


@pytest.mark.cluster
def test_an_unreachable_cluster_is_one_line(tiny_models_dir, folders, tmp_path):
    pytest.importorskip("distributed")
    contents, styles = folders
    result = nst("batch", "--content", contents, "--style", styles, "-o", tmp_path / "out", *SMALL,
                 "--cluster", "tcp://127.0.0.1:9", models_dir=tiny_models_dir)
    one_line_error(result, "cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_bad_rows_and_files_fail_one_line_each_and_the_rest_go_on(tiny_models_dir, folders, tmp_path):
    contents, styles = folders
    plan = tmp_path / "plan.csv"
    plan.write_text(f"content,style,style_weight\n{contents / 'a.png'},{styles / 'x.png'},2\n"
                    f"{contents / 'b.png'},,\n{contents / 'a.png'},{styles / 'y.png'},-1\n"
                    f"{contents / 'missing.png'},{styles / 'x.png'},1\n")
    result = nst("batch", plan, "-o", tmp_path / "out", *SMALL, models_dir=tiny_models_dir)
    assert result.returncode == 3, result.stderr
    failed = [line for line in result.stderr.splitlines() if ": failed (" in line]
    assert len(failed) == 3 and "Traceback" not in result.stderr
    reasons = [line.split(": failed (", 1)[1] for line in failed]
    assert sum("plan.csv row 2: a row needs a content and a style" in reason for reason in reasons) == 1, reasons
    assert sum("--style-weight must be" in reason for reason in reasons) == 1, reasons
    assert sum("missing.png" in reason for reason in reasons) == 1, reasons
    assert any("--style-weight must be > 0" in line for line in failed)
    assert any("image not found" in line and "missing.png" in line for line in failed)
    assert len(list((tmp_path / "out").glob("*__*.png"))) == 1


# ---- the output folder: the user's files, one batch at a time (issue 31) ------------------------------

def _plan(path: Path, contents: Path, styles: Path, pairs: str) -> Path:
    """A CSV plan of content x style pairs given as 'ax,ay,bx'."""
    path.write_text("content,style\n" + "".join(f"{contents / (p[0] + '.png')},{styles / (p[1] + '.png')}\n"
                                                 for p in pairs.split(",")))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_folder_of_the_users_files_is_refused_before_any_work(tiny_models_dir, folders, tmp_path):
    contents, styles = folders
    out = tmp_path / "mine"
    out.mkdir()
    (out / "index.csv").write_text("my own spreadsheet\n")
    (out / "a__x.png").write_bytes(b"my own picture")
    (out / "b__y.json").write_text('{"interrupted": true}')
    before = _snapshot(out)
    result = nst("batch", "--content", contents, "--style", styles, "-o", out, *SMALL, models_dir=tiny_models_dir)
    one_line_error(result, f"-o {out} holds files nst-ort did not write")
    assert result.returncode == 1
    assert _snapshot(out) == before and sorted(p.name for p in out.iterdir()) == sorted(before)


def test_a_file_the_batch_did_not_write_is_never_replaced_even_in_its_own_folder(tiny_models_dir, folders, tmp_path):
    contents, styles = folders
    out = tmp_path / "out"
    first = nst("batch", _plan(tmp_path / "one.csv", contents, styles, "ax"), "-o", out, *SMALL,
                models_dir=tiny_models_dir)
    assert first.returncode == 0, first.stderr
    (out / "a__y.png").write_bytes(b"dropped in by the user")  # a name the next plan wants
    (out / "a__x.json").write_text('{"mine": true}')  # a finished result's report, replaced by the user
    mine = _snapshot(out)
    result = nst("batch", _plan(tmp_path / "three.csv", contents, styles, "ax,ay,bx"), "-o", out, *SMALL,
                 models_dir=tiny_models_dir)
    assert result.returncode == 2, result.stderr
    failed = [line for line in result.stderr.splitlines() if ": failed (" in line]
    assert len(failed) == 2 and "Traceback" not in result.stderr
    assert any("a__y.png" in line and "did not write" in line for line in failed), failed
    assert any("a__x.json" in line and "did not write" in line for line in failed), failed
    assert all(_snapshot(out)[name] == data for name, data in mine.items() if name.startswith("a__"))
    assert (out / "b__x.png").is_file()
    (out / "index.csv").write_text("my notes\n")  # a batch-wide file: the batch is refused
    again = nst("batch", _plan(tmp_path / "three.csv", contents, styles, "ax,ay,bx"), "-o", out, *SMALL,
                models_dir=tiny_models_dir)
    one_line_error(again, "index.csv")
    assert (out / "index.csv").read_text() == "my notes\n"


def test_a_second_batch_into_one_folder_is_refused_at_once_naming_the_first(tiny_models_dir, folders, tmp_path):
    out = tmp_path / "out"
    args = long_batch(folders, out)
    first = start(args, tiny_models_dir)
    try:
        for line in first.stderr:  # printed once the folder is claimed
            if line.startswith("batch: 4 items"):
                break
        second = nst(*args, models_dir=tiny_models_dir)
        assert first.poll() is None, "the first batch ended before the second one started"
    finally:
        first.kill()  # SIGKILL: its lock goes with it
        first.communicate()
    one_line_error(second, f"is in use by another nst-ort run (process {first.pid})")
    assert second.returncode == 1 and second.stderr.count("\n") == 1, second.stderr
    third = nst(*args[:7], *SMALL, models_dir=tiny_models_dir)  # the same items, quicker (the one killed resumes)
    assert third.returncode == 0, third.stderr
    rows = json.loads((out / "index.json").read_text())
    assert len(rows) == 4 and {row["status"] for row in rows} <= {"done", "skipped"}


def test_a_repeated_plan_row_runs_once_with_a_warning(tiny_models_dir, folders, tmp_path):
    contents, styles = folders
    plan = _plan(tmp_path / "plan.csv", contents, styles, "ax,bx,ax")
    result = nst("batch", plan, "-o", tmp_path / "out", *SMALL, models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "plan.csv row 3" in warnings[0] and "row 1" in warnings[0], result.stderr
    assert "2 of 2 items done (0 finished before)" in result.stderr
    assert [row["status"] for row in json.loads((tmp_path / "out" / "index.json").read_text())] == ["done"] * 2


def test_a_batch_of_more_than_100_items_needs_yes(tiny_models_dir, folders, tmp_path):
    contents, styles = folders
    out = tmp_path / "out"
    weights = ",".join(str(w) for w in range(1, 27))  # 2 photos x 2 paintings x 26 weights
    result = nst("batch", "--content", contents, "--style", styles, "-o", out, *SMALL, "--style-weight", weights,
                 models_dir=tiny_models_dir)
    one_line_error(result, "104 items")
    assert "--yes" in result.stderr and not out.exists()
    plan = tmp_path / "plan.csv"
    plan.write_text("content,style\n" + "".join(f"p{n}.png,\n" for n in range(101)))  # rows that fail at once
    started = nst("batch", plan, "-o", out, "--yes", models_dir=tiny_models_dir)
    assert started.returncode == 100 and started.stderr.count("a row needs a content and a style") == 101


@pytest.mark.cluster
def test_a_scheduler_killed_mid_batch_ends_it_in_one_line_and_a_local_rerun_finishes(tiny_models_dir, folders,
                                                                                     tmp_path):
    """A scheduler and its workers in processes of their own; the scheduler SIGKILLed once an item is done."""
    import contextlib
    import subprocess

    distributed = pytest.importorskip("distributed")
    contents, styles = folders
    out, address_file = tmp_path / "out", tmp_path / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), NST_MODELS_DIR=str(tiny_models_dir))
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--no-dashboard", "--scheduler-file", address_file], **quiet)
    workers = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", address_file,
                                "--nworkers", "2", "--nthreads", "1", "--no-dashboard"], **quiet)
    args = ["batch", "--content", contents, "--style", styles, "-o", out, "--size", "64", "--iterations", "150",
            "--scales", "1", "--threads", "1"]
    try:
        with distributed.Client(scheduler_file=str(address_file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            address = client.scheduler.address
        batch = subprocess.Popen([sys.executable, "-m", "cli", *map(str, args), "--cluster", address], cwd=ROOT,
                                 env=env, stderr=subprocess.PIPE, text=True)
        for line in batch.stderr:
            if line.startswith("[1/4]"):
                break
        os.killpg(scheduler.pid, signal.SIGKILL)
        killed = time.monotonic()
        try:
            rest = batch.communicate(timeout=90)[1]
        finally:
            batch.kill()
        assert time.monotonic() - killed < 90
    finally:
        for process in (scheduler, workers):  # each in a session of its own: its group is its processes
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert batch.returncode == 1, rest
    lines = [line for line in rest.splitlines() if line.strip()]
    assert lines[-1].startswith("error: lost the Dask scheduler at ") and "Traceback" not in rest, rest
    assert "internal error" not in rest and "distributed." not in rest, rest
    done = [row["name"] for row in json.loads((out / "index.json").read_text()) if row["status"] == "done"]
    assert 1 <= len(done) < 4 and all((out / f"{name}.png").is_file() for name in done)
    again = nst(*args, models_dir=tiny_models_dir)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("skipped") == len(done)
    assert all(row["status"] in ("done", "skipped") for row in json.loads((out / "index.json").read_text()))
