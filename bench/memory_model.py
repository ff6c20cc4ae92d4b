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
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import write_page_block  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
PHOTO, PAINTING = IMAGES / "content" / "sunset_by_the_pier.jpg", IMAGES / "style" / "great_wave_met_large.jpg"
WORK = ROOT / "bench" / "results" / "memory_model"
REPORT = ROOT / "docs" / "bench" / "memory_model.json"
PAGE = ROOT / "docs" / "print.md"
PYTHONS = "oldest=.venv-oldest/bin/python,training=.venv/bin/python,newest=.venv-portable/bin/python"
PAIR_BYTES_PER_PIXEL = 2 * 12  # an L-BFGS pair: two float32 RGB vectors


def _os_threads(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_case(python: str, engine: str, size: int, tile: int, threads: int, iterations: int, cores: int) -> dict:
    """One `nst stylize` process; its report's level, the OS threads it ran, and the estimate for what it held."""
    WORK.mkdir(parents=True, exist_ok=True)
    name = f"{Path(python).parent.parent.name}_{engine}_{size}_{tile}_{threads}"
    report = WORK / f"{name}.json"
    command = [python, "-m", "nst_ort", "stylize", str(PHOTO), str(PAINTING), "-o", str(WORK / f"{name}.png"),
               "--size", str(size), "--scales", "1", "--iterations", str(iterations), "--threads", str(threads),
               "--engine", engine, "--tile", str(tile), "--report", str(report), "--quiet", "--restart"]
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
        estimate = max(case["estimate_held"] for case in by_threads.values())
        worst = max(peak for peak in peaks if peak)
        cells = [f"{peak / 2**30:.2f}" if peak else "" for peak in peaks]
        lines.append(f"| {version} | {run_name} | " + " | ".join(cells)
                     + f" | {estimate / 2**30:.2f} | {(estimate - worst) / worst:+.0%} |")
    errors = [case["error"] for case in cases]
    lines.append("")
    lines.append(f"GiB, peak RSS of the run's level. {len(cases)} runs; the estimate is {min(errors):+.0%} to "
                 f"{max(errors):+.0%} off the measured peak, {sum(e < 0 for e in errors)} below it. "
                 f"onnxruntime ran {min(c['os_threads'] for c in cases)}-{max(c['os_threads'] for c in cases)} "
                 "OS threads.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["run", "page"])
    parser.add_argument("--pythons", default=PYTHONS, help="label=python,... (label 'training' adds its engine)")
    parser.add_argument("--threads", default="1,2,4,8,16")
    parser.add_argument("--untiled", default="384,640,896", help="long sides run untiled")
    parser.add_argument("--tiled", default="512,640,896", help="long sides run in tiles")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()
    if args.step == "run":
        run(args)
    else:
        write_page_block("memory-model", PAGE, table, REPORT)


if __name__ == "__main__":
    main()
