"""The memory plan against measured peaks, on every onnxruntime nst-ort installs and at 1-16 threads.

    .venv/bin/python bench/memory_model.py run [--threads 1,2,4,8,16] [--untiled 384,640,896]
                                               [--tiled 512,640,896] [--tile 256] [--iterations 2]
    .venv/bin/python bench/memory_model.py page   # the table in docs/print.md

Each case is one `nst stylize` process at one level (`--scales 1`) on the pier photo and the
Great Wave, run by the Python of each environment (`--pythons`: .venv-oldest, onnxruntime
1.16.3; .venv, onnxruntime-training 1.19.2, which also runs the training engine; .venv-portable,
the newest plain onnxruntime), untiled and in `--tile` px tiles. $NST_CORES is set to the
largest thread count so that nst-ort does not cap --threads to this machine's cores:
onnxruntime then starts every thread asked for (the process's OS thread count is sampled
while it runs and recorded), whether or not the cores exist.

A short run holds fewer L-BFGS pairs than the plan counts (10 untiled): each missing pair is
two image vectors the run never made, so the estimate compared is the plan's less those
vectors (`estimate_held`, 24 bytes per pixel per missing pair). Cases are appended to
docs/bench/memory_model.json as they finish; a rerun skips the cases it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import write_page_block  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
PHOTO, PAINTING = IMAGES / "content" / "sunset_by_the_pier.jpg", IMAGES / "style" / "great_wave_met_large.jpg"
WHOLE_PHOTO, WHOLE_PAINTING = IMAGES / "content" / "tubingen.jpg", IMAGES / "style" / "starry_night.jpg"  # the defaults' run
WORK = ROOT / "bench" / "results" / "memory_model"
REPORT = ROOT / "docs" / "bench" / "memory_model.json"
PAGE = ROOT / "docs" / "print.md"
PYTHONS = "oldest=.venv-oldest/bin/python,training=.venv/bin/python,newest=.venv-portable/bin/python"
PAIR_BYTES_PER_PIXEL = 2 * 12  # an L-BFGS pair: two float32 RGB vectors
SHORT_ITERATIONS = 2  # the `run` step's cases: their heap has not grown as a whole run's


@dataclass(frozen=True)
class LargerRun:
    """An earlier whole run at a larger size (docs/print.md: bench/estimate.py's 12-iteration
    runs and the print runs' levels; onnxruntime-training 1.19.2, 2 threads)."""

    name: str
    width: int
    height: int
    engine: str
    core: int  # tile core, 0: untiled
    pairs: int  # L-BFGS pairs held
    peak_gib: float

    @property
    def peak_bytes(self) -> float:
        return self.peak_gib * 2**30

    def request(self):
        return plan_request({"plan": f"{self.width}x{self.height}", "engine": self.engine, "tile": self.core})

    def estimate(self) -> int:
        from nst_ort.core.memory_plan import plan_run

        request = self.request()
        return request.tiled_estimate(plan_run(request).layout, self.pairs) if self.core else request.untiled_estimate()


LARGER_RUNS = (
    LargerRun("512x341 untiled", 512, 341, "portable", 0, 10, 0.78),
    LargerRun("1024x683 untiled", 1024, 683, "portable", 0, 10, 2.44),
    LargerRun("1536x1024 untiled", 1536, 1024, "portable", 0, 10, 5.16),
    LargerRun("2048x1365 untiled", 2048, 1365, "portable", 0, 10, 8.99),
    LargerRun("512x341 untiled, training engine", 512, 341, "training", 0, 10, 1.17),
    LargerRun("1024x683 untiled, training engine", 1024, 683, "training", 0, 10, 4.06),
    LargerRun("3000x2000 in 1024-px tiles, 10 pairs (print run, level 5)", 3000, 2000, "portable", 1024, 10, 6.13),
    LargerRun("3000x2000 in 128-px tiles, 2 pairs (3000 px in 2 GiB, top level)", 3000, 2000, "portable", 128, 2,
              1.76),
    LargerRun("6000x3999 in 512-px tiles, 3 pairs (print run, level 6)", 6000, 3999, "portable", 512, 3, 6.78),
)


def larger_table(_: dict) -> str:
    lines = ["| run | estimated peak | measured peak | estimate above it |", "|---|---:|---:|---:|"]
    for run in LARGER_RUNS:
        estimate = run.estimate()
        lines.append(f"| {run.name} | {estimate / 2**30:.2f} GiB | {run.peak_gib:.2f} GiB | "
                     f"{(estimate - run.peak_bytes) / run.peak_bytes:.0%} |")
    return "\n".join(lines)


def _os_threads(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_case(python: str, engine: str, size: int, tile: int, threads: int, iterations: int, cores: int,
             extra: tuple[str, ...] = ()) -> dict:
    """One `nst stylize` process (`extra`: more of its options); its report's level, the OS
    threads it ran, and the estimate for what it held."""
    WORK.mkdir(parents=True, exist_ok=True)
    name = "_".join([Path(python).parent.parent.name, engine, str(size), str(tile), str(threads),
                     *(option.strip("-") for option in extra)])
    report = WORK / f"{name}.json"
    command = [python, "-m", "nst_ort", "stylize", str(PHOTO), str(PAINTING), "-o", str(WORK / f"{name}.png"),
               "--size", str(size), "--scales", "1", "--iterations", str(iterations), "--threads", str(threads),
               "--engine", engine, "--tile", str(tile), "--report", str(report), "--quiet", "--restart", *extra]
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "NST_CORES": str(cores)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    os_threads = 0
    while process.poll() is None:
        os_threads = max(os_threads, _os_threads(process.pid))
        time.sleep(0.2)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().strip()}")
    data = json.loads(report.read_text())
    level = data["levels"][-1]
    width, height = level["size"]
    held = min(level["iterations"], level["history"])
    estimate_held = level["estimated_peak_bytes"] - (level["history"] - held) * PAIR_BYTES_PER_PIXEL * width * height
    found = data["versions"]
    return {"onnxruntime": found.get("onnxruntime") or found["onnxruntime-training-cpu"], "python": found["python"],
            "engine": engine,
            "tiled": bool(tile), "tile": tile, "size": size, "threads": threads, "os_threads": os_threads,
            "iterations": level["iterations"], "evaluations": data["evaluations"], "plan": level["plan"],
            "history": level["history"], "pairs_held": held, "estimated_peak_bytes": level["estimated_peak_bytes"],
            "estimate_held": estimate_held, "peak_rss_bytes": level["peak_rss_bytes"],
            "error": round((estimate_held - level["peak_rss_bytes"]) / level["peak_rss_bytes"], 3),
            "seconds": round(time.perf_counter() - began, 1)}


def _key(case: dict) -> tuple:
    return case["python_label"], case["engine"], case["tile"], case["size"], case["threads"]


def run(args: argparse.Namespace) -> None:
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {"cases": []}
    done = {_key(case) for case in data["cases"]}
    threads = [int(t) for t in args.threads.split(",")]
    pythons = [item.split("=", 1) for item in args.pythons.split(",")]
    for label, python in pythons:
        if not (ROOT / python).exists():
            print(f"skipping {label}: no {python}", flush=True)
    for count in threads:  # every environment at one thread count before the next: a cut-short run still compares
        for label, python in pythons:
            if not (ROOT / python).exists():
                continue
            engines = ["portable", "training"] if label == "training" else ["portable"]
            shapes = [(engine, size, 0) for engine in engines for size in map(int, args.untiled.split(","))]
            shapes += [("portable", size, args.tile) for size in map(int, args.tiled.split(","))]
            for engine, size, tile in shapes:
                if (label, engine, tile, size, count) in done:
                    continue
                case = {"python_label": label, **run_case(str(ROOT / python), engine, size, tile, count,
                                                          args.iterations, max(threads))}
                data["cases"].append(case)
                REPORT.write_text(json.dumps(data, indent=1) + "\n")
                print(json.dumps(case), flush=True)


WHOLE_EXTRAS = ("--gif", "--checkpoint-every", "10s", "--save-every", "10")  # what a long or studio run also does


def run_whole(python: str, label: str, size: int, threads: int) -> dict:
    """One whole `nst stylize` run with the defaults (every level, every iteration, the full
    L-BFGS history) that also records a GIF, writes checkpoints every 10 s and the image every
    10 iterations, as a long run or the studio's previews do: each level's peak and estimate."""
    WORK.mkdir(parents=True, exist_ok=True)
    name = f"whole_{label}_{size}_{threads}"
    report = WORK / f"{name}.json"
    extras = [option if option != "--gif" else f"--gif={WORK / name}.gif" for option in WHOLE_EXTRAS]
    command = [python, "-m", "nst_ort", "stylize", str(WHOLE_PHOTO), str(WHOLE_PAINTING), "-o", str(WORK / f"{name}.png"),
               "--size", str(size), "--threads", str(threads), "--report", str(report), "--quiet", "--restart",
               *extras]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    data = json.loads(report.read_text())
    found = data["versions"]
    return {"python_label": label, "onnxruntime": found.get("onnxruntime") or found["onnxruntime-training-cpu"],
            "size": size, "threads": threads, "seconds": round(time.perf_counter() - began, 1),
            "levels": [{"plan": level["plan"], "iterations": level["iterations"], "history": level["history"],
                        "estimated_peak_bytes": level["estimated_peak_bytes"],
                        "peak_rss_bytes": level["peak_rss_bytes"]} for level in data["levels"]]}


def run_studio(python: str, label: str, size: int) -> dict:
    """The same whole run made in the studio: a real `nst serve` (the run in its worker thread,
    beside the web server) with a client watching its events, so previews are written all along."""
    import httpx

    workspace = WORK / f"studio_{label}_{size}"
    shutil.rmtree(workspace, ignore_errors=True)
    server = subprocess.Popen([python, "-m", "nst_ort", "serve", "--workspace", str(workspace), "--preview-every", "1"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    began = time.perf_counter()
    try:
        url = server.stdout.readline().strip()
        with httpx.Client(base_url=url, timeout=None) as client:
            files = [("content", (WHOLE_PHOTO.name, WHOLE_PHOTO.read_bytes())),
                     ("style", (WHOLE_PAINTING.name, WHOLE_PAINTING.read_bytes()))]
            created = client.post("/api/runs", files=files, data={"options": json.dumps({"size": size, "threads": 2})})
            run_id = created.json()["id"]
            with client.stream("GET", f"/api/runs/{run_id}/events") as events:  # a page watching
                for line in events.iter_lines():
                    if line.startswith("data:") and json.loads(line[5:]).get("status") in ("done", "failed", "stopped"):
                        break
        data = json.loads((workspace / "runs" / run_id / "report.json").read_text())
    finally:
        server.terminate()
        server.wait(timeout=60)
    found = data["versions"]
    return {"python_label": label, "onnxruntime": found.get("onnxruntime") or found["onnxruntime-training-cpu"],
            "size": size, "threads": 2, "studio": True, "seconds": round(time.perf_counter() - began, 1),
            "levels": [{key: level[key] for key in ("plan", "iterations", "history", "estimated_peak_bytes",
                                                    "peak_rss_bytes")} for level in data["levels"]]}


def whole(args: argparse.Namespace) -> None:
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {"cases": []}
    runs = data.setdefault("whole_runs", [])
    done = {(run["python_label"], run["size"], run["threads"]) for run in runs if not run.get("studio")}
    for size in map(int, args.whole.split(",")):
        for label, python in (item.split("=", 1) for item in args.pythons.split(",")):
            for threads in map(int, args.threads.split(",")):
                if (label, size, threads) in done or not (ROOT / python).exists():
                    continue
                runs.append(run_whole(str(ROOT / python), label, size, threads))
                REPORT.write_text(json.dumps(data, indent=1) + "\n")
                print(json.dumps(runs[-1]), flush=True)


def studio(args: argparse.Namespace) -> None:
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {"cases": []}
    runs = data.setdefault("whole_runs", [])
    done = {(run["python_label"], run["size"]) for run in runs if run.get("studio")}
    for size in map(int, args.whole.split(",")):
        for label, python in (item.split("=", 1) for item in args.pythons.split(",")):
            if (label, size) in done or not (ROOT / python).exists():
                continue
            runs.append(run_studio(str(ROOT / python), label, size))
            REPORT.write_text(json.dumps(data, indent=1) + "\n")
            print(json.dumps(runs[-1]), flush=True)


def whole_levels(data: dict) -> list[dict]:
    """Each level of the whole runs as a case of its own (untiled, portable, all its pairs held)."""
    return [{**level, "engine": "portable", "tile": 0, "pairs_held": min(level["iterations"], level["history"]),
             "onnxruntime": run["onnxruntime"], "size": max(map(int, level["plan"].split()[0].split("x"))),
             "threads": run["threads"], "whole_run": run["size"], "studio": run.get("studio", False)}
            for run in data.get("whole_runs", []) for level in run["levels"]]


def whole_table(data: dict) -> str:
    """Rows: each level of each whole run, its measured peak against the current plan's estimate."""
    lines = ["| onnxruntime | run | level | iterations | measured peak | estimate | above the peak |",
             "|---|---|---|---:|---:|---:|---:|"]
    for case in whole_levels(data):
        estimate, peak = estimate_for(case), case["peak_rss_bytes"]
        where = " in the studio" if case["studio"] else ""
        lines.append(f"| {case['onnxruntime']} | {case['whole_run']} px{where} | {case['plan'].split()[0]} | "
                     f"{case['iterations']} | {peak / 2**20:.0f} MiB | {estimate / 2**20:.0f} MiB | "
                     f"{(estimate - peak) / peak:+.0%} |")
    return "\n".join(lines)


def plan_request(case: dict):
    """The plan's request for a measured case (the default layers, one style, L-BFGS)."""
    from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS
    from nst_graphs.networks import layer_channels
    from nst_ort.core.memory_plan import PlanRequest

    width, height = map(int, case["plan"].split()[0].split("x"))
    return PlanRequest(width, height, case["engine"], "lbfgs", "vgg16", DEFAULT_LOSS_LAYERS.all,
                       DEFAULT_LOSS_LAYERS.content, layer_channels("vgg16"), tile=case["tile"] or 0)


def short(case: dict) -> bool:
    """A run of a few iterations (the `run` step): its heap has not grown as a whole run's does."""
    return case["iterations"] <= SHORT_ITERATIONS


def estimate_for(case: dict) -> int:
    """The current plan's estimate for what the case's run held: its layout and the L-BFGS pairs
    it had made (the plan counts the full history: the missing pairs' vectors never existed),
    and for a short run without the growth of a whole run's heap."""
    from nst_ort.core.memory_plan import RUN_GROWTH_BYTES, plan_run

    request = plan_request(case)
    plan = plan_run(request)
    missing = (plan.history - case["pairs_held"]) * PAIR_BYTES_PER_PIXEL * request.width * request.height
    return plan.estimate - missing - (RUN_GROWTH_BYTES if short(case) else 0)


def fit(cases: list[dict]) -> dict:
    """The plan's constants that cover every measured peak (the cases and the larger runs) most
    tightly: for each session bytes per pixel, tiled engine's extra and training factor on a
    grid, the smallest fixed part that covers every peak; the set whose largest over-estimate
    is smallest."""
    import numpy as np

    from nst_ort.core.memory_plan import plan_run

    rows = []  # (whole-image bytes, session pixels, kind, peak, a whole run's growth counts)
    for case in cases:
        request = plan_request(case)
        plan = plan_run(request)
        pixels = plan.layout.largest_window if plan.layout else request.width * request.height
        rows.append((request.whole_bytes_per_pixel(case["pairs_held"]) * request.width * request.height, pixels,
                     "tiled" if plan.layout else case["engine"], case["peak_rss_bytes"], not short(case)))
    for run in LARGER_RUNS:
        request = run.request()
        pixels = plan_run(request).layout.largest_window if run.core else run.width * run.height
        rows.append((request.whole_bytes_per_pixel(run.pairs) * run.width * run.height, pixels,
                     "tiled" if run.core else run.engine, run.peak_bytes, True))
    whole, pixels, peak = (np.array([row[i] for row in rows], dtype=float) for i in (0, 1, 3))
    kinds, grown = np.array([row[2] for row in rows]), np.array([row[4] for row in rows])
    best = None
    for per_pixel in range(2000, 4501, 50):
        for tiled in np.arange(0, 0.41, 0.01) * 2**30:
            for factor in np.arange(1.5, 2.51, 0.05):
                for growth in np.arange(0, 0.201, 0.01) * 2**30:
                    varying = whole + per_pixel * pixels * np.where(kinds == "training", factor, 1.0) + np.where(
                        kinds == "tiled", tiled, 0.0) + np.where(grown, growth, 0.0)
                    fixed = float(np.max(peak - varying))
                    worst = float(np.max((fixed + varying) / peak))
                    if best is None or worst < best["largest_ratio"]:
                        best = {"fixed_gib": round(fixed / 2**30, 3), "session_bytes_per_pixel": per_pixel,
                                "tiled_engine_gib": round(tiled / 2**30, 2), "training_factor": round(factor, 2),
                                "growth_gib": round(growth / 2**30, 2), "largest_ratio": worst}
    return best


def table(data: dict) -> str:
    """Rows: onnxruntime, engine, image; columns: the measured peak at each thread count; then
    the estimate and how far above the largest measured peak it is."""
    cases = data["cases"]
    threads = sorted({case["threads"] for case in cases})
    rows: dict[tuple, dict[int, dict]] = {}
    for case in cases:
        rows.setdefault((case["onnxruntime"], case["engine"], case["tile"], case["size"]), {})[case["threads"]] = case
    lines = ["| onnxruntime | run | " + " | ".join(f"{t} thr." for t in threads) + " | estimate | above the peak |",
             "|---|---|" + "---:|" * (len(threads) + 2)]
    for (version, engine, tile, size), by_threads in sorted(rows.items(), key=lambda item: (
            [int(part) for part in item[0][0].split(".")], item[0][1], item[0][2], item[0][3])):
        any_case = next(iter(by_threads.values()))
        width_height = any_case["plan"].split()[0]
        run_name = f"{width_height} " + (f"in {tile}-px tiles" if tile else "untiled") + (
            ", training engine" if engine == "training" else "")
        peaks = [by_threads[t]["peak_rss_bytes"] if t in by_threads else None for t in threads]
        estimate = max(estimate_for(case) for case in by_threads.values())
        worst = max(peak for peak in peaks if peak)
        cells = [f"{peak / 2**30:.2f}" if peak else "" for peak in peaks]
        lines.append(f"| {version} | {run_name} | " + " | ".join(cells)
                     + f" | {estimate / 2**30:.2f} | {(estimate - worst) / worst:+.0%} |")
    errors = [(estimate_for(case) - case["peak_rss_bytes"]) / case["peak_rss_bytes"] for case in cases]
    lines.append("")
    lines.append(f"GiB, peak RSS of the run's level; the estimate is the plan's for a whole run less what a "
                 f"{SHORT_ITERATIONS}-iteration run has not held yet (the L-BFGS pairs not made, a whole run's "
                 f"growth). {len(cases)} runs; the estimate is {min(errors):+.0%} to "
                 f"{max(errors):+.0%} off the measured peak, {sum(e < 0 for e in errors)} below it. "
                 f"onnxruntime ran {min(c['os_threads'] for c in cases)}-{max(c['os_threads'] for c in cases)} "
                 "OS threads.")
    from nst_ort.core import memory_plan as plan

    tightest = fit(cases + whole_levels(data))
    lines.append("")
    lines.append(f"The tightest constants for these runs, the whole runs and the larger ones below "
                 f"(`bench/memory_model.py fit`): fixed {tightest['fixed_gib']:.3f} GiB, a whole run's growth "
                 f"{tightest['growth_gib']:.2f} GiB more, session {tightest['session_bytes_per_pixel']} bytes per "
                 f"pixel, tiled engine {tightest['tiled_engine_gib']:.2f} GiB more, training engine "
                 f"{tightest['training_factor']:.2f}x the bytes per pixel (largest over-estimate "
                 f"{tightest['largest_ratio'] - 1:.0%}). The plan uses, rounded up: fixed "
                 f"{(plan.RUN_FIXED_BYTES + plan.SESSION_FIXED_BYTES) / 2**30:.3f} GiB, growth "
                 f"{plan.RUN_GROWTH_BYTES / 2**30:.2f} GiB, {plan.SESSION_BYTES_PER_PIXEL} bytes per pixel, "
                 f"{plan.TILED_ENGINE_BYTES / 2**30:.2f} GiB, {plan.TRAINING_ENGINE_FACTOR:.2f}x.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["run", "whole", "studio", "fit", "page"])
    parser.add_argument("--pythons", default=PYTHONS, help="label=python,... (label 'training' adds its engine)")
    parser.add_argument("--threads", default="1,2,4,8,16")
    parser.add_argument("--untiled", default="384,640,896", help="long sides run untiled")
    parser.add_argument("--tiled", default="512,640,896", help="long sides run in tiles")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--whole", default="256,533", help="long sides of the whole runs ('whole' step)")
    args = parser.parse_args()
    if args.step == "run":
        run(args)
    elif args.step == "whole":
        whole(args)
    elif args.step == "studio":
        studio(args)
    elif args.step == "fit":
        data = json.loads(REPORT.read_text())
        print(json.dumps(fit(data["cases"] + whole_levels(data)), indent=1))
    else:
        write_page_block("memory-model", PAGE, table, REPORT)
        write_page_block("memory-larger", PAGE, larger_table, REPORT)
        write_page_block("memory-whole", PAGE, whole_table, REPORT)


if __name__ == "__main__":
    main()
