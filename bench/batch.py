"""Batches and shots, measured: the same 12 small items with 1 worker, 2 local workers and a
2-worker Dask cluster (a real `dask scheduler` and `dask worker` on loopback), and a clip with
two cuts stylised on 2 workers against 1. On a 2-core machine the point is overhead and
correctness, not speed.

    .venv/bin/python bench/batch.py [--size 128] [--iterations 20] [--out docs/bench/batch.json]
    .venv/bin/python bench/batch.py page      # the table in docs/batch.md from docs/bench/batch.json

Per mode: wall seconds, the items' own seconds (their reports), seconds per item, and the
scheduling overhead: wall - (sum of item seconds) / workers. Results are written as they come.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import ROOT, nst_command, write_page_block  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
CLIP = ROOT.parent / "shared" / "video" / "bigbuckbunny.mp4"
CONTENTS = ("tubingen.jpg", "golden_gate.jpg", "chicago_skyline.jpg")
STYLES = ("starry_night.jpg", "great_wave_off_kanagawa.jpg")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(command: list, env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def batch_mode(name: str, work: Path, extra: list, workers: int, common: list, env: dict) -> dict:
    out = work / name
    wall = timed([*nst_command(), "batch", "--content", work / "photos", "--style", work / "paintings", "-o", out,
                  *common, *extra, "--quiet"], env)
    rows = json.loads((out / "index.json").read_text())
    item_seconds = [row["seconds"] for row in rows]
    return {"mode": name, "workers": workers, "items": len(rows), "wall_seconds": wall,
            "item_seconds_mean": sum(item_seconds) / len(rows), "wall_seconds_per_item": wall / len(rows),
            "overhead_seconds": wall - sum(item_seconds) / workers,
            "statuses": sorted({row["status"] for row in rows})}


def cluster(work: Path, env: dict):
    """A scheduler and a worker process group (2 workers, 1 task each) on loopback."""
    port = free_port()
    dask = [str(Path(sys.executable).with_name("dask"))]
    scheduler = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                 env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    workers = subprocess.Popen([*dask, "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads", "1",
                                "--no-dashboard"], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    time.sleep(8)
    return f"tcp://127.0.0.1:{port}", (workers, scheduler)


def clip_with_two_cuts(path: Path, per_shot: int) -> None:
    """Three stretches of the real clip, far apart in time: two cuts."""
    import av

    with av.open(str(CLIP)) as source:
        frames = [frame.to_ndarray(format="rgb24") for frame in source.decode(video=0)]
    picked = frames[:per_shot] + frames[60:60 + per_shot] + frames[-per_shot:]
    with av.open(str(path), "w") as target:
        stream = target.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = picked[0].shape[1], picked[0].shape[0], "yuv420p"
        for frame in picked:
            target.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        target.mux(stream.encode(None))


PAGE = ROOT / "docs" / "batch.md"  # the page the table lives on


def markdown_table(report: dict) -> str:
    """The measured modes and the clip, as the docs show them."""
    rows = [f"12 items at {report['size']} px, {report['iterations']} iterations, 1 thread each, on "
            f"{report['cores']} cores:", "",
            "| mode | wall | per item (wall) | an item's own run | scheduling overhead |", "|---|---:|---:|---:|---:|"]
    rows += [f"| {mode['mode'].replace('_', ' ')} | {mode['wall_seconds']:.1f} s | {mode['wall_seconds_per_item']:.2f} s "
             f"| {mode['item_seconds_mean']:.2f} s | {mode['overhead_seconds']:.1f} s |" for mode in report["modes"]]
    if report.get("video"):
        rows += ["", f"A clip with two cuts (three shots of {report['video'][0]['frames'] // 3} frames from "
                     f"`bigbuckbunny.mp4`), `nst video --cuts auto`:", "",
                 "| workers | wall | per frame |", "|---:|---:|---:|"]
        rows += [f"| {clip['workers']} | {clip['wall_seconds']:.1f} s | {clip['seconds_per_frame']:.2f} s |"
                 for clip in report["video"]]
    return "\n".join(rows)


def main() -> None:
    if sys.argv[1:] == ["page"]:
        write_page_block("batch", PAGE, markdown_table, ROOT / "docs" / "bench" / "batch.json")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--frames-per-shot", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "batch.json")
    args = parser.parse_args()
    report: dict = {"size": args.size, "iterations": args.iterations, "cores": os.cpu_count(), "modes": [], "video": []}

    def save() -> None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for kind, names in (("photos", CONTENTS), ("paintings", STYLES)):
            (work / kind).mkdir()
            for name in names:
                (work / kind / name).symlink_to(IMAGES / ("content" if kind == "photos" else "style") / name)
        common = ["--size", str(args.size), "--iterations", str(args.iterations), "--scales", "1", "--threads", "1",
                  "--style-weight", "1,4"]  # 3 photos x 2 paintings x 2 strengths = 12 items
        for name, extra, workers in (("1 worker", ["--workers", "1"], 1), ("2 local workers", ["--workers", "2"], 2)):
            report["modes"].append(batch_mode(name.replace(" ", "_"), work, extra, workers, common, env))
            save()
            print(report["modes"][-1], flush=True)
        address, processes = cluster(work, env)
        try:
            report["modes"].append(batch_mode("dask_2_workers", work, ["--cluster", address], 2, common, env))
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
        save()
        print(report["modes"][-1], flush=True)
        clip = work / "two_cuts.mp4"
        clip_with_two_cuts(clip, args.frames_per_shot)
        style = IMAGES / "style" / "starry_night.jpg"
        for workers in (1, 2):
            wall = timed([*nst_command(), "video", clip, style, "-o", work / f"clip{workers}.mp4", "--size",
                          str(args.size), "--iterations", str(args.iterations), "--frame-iterations", "10",
                          "--threads", "1", "--cuts", "auto", "--workers", str(workers), "--quiet"], env)
            report["video"].append({"workers": workers, "frames": 3 * args.frames_per_shot, "shots": 3,
                                    "wall_seconds": wall, "seconds_per_frame": wall / (3 * args.frames_per_shot)})
            save()
            print(report["video"][-1], flush=True)


if __name__ == "__main__":
    main()
