"""Seconds per evaluation of each style loss, side by side, and each one's print plan.

    .venv/bin/python bench/style_losses.py [--cases 384x256,768x512,1536x1024@512] [--rounds 3]
    .venv/bin/python bench/style_losses.py --memory [--memory-cases 640,896,640@256]

Each case runs `nst bench` (its own process, real VGG16, default layers) for every loss in
turn, `--rounds` times alternating, so both losses see the same machine load; WxH@T is tiled
with T-px cores. Also prints the plan (`nst_ort/core/memory_plan.py`) of a 6000x4500 run at 8 GB for each
loss. Writes docs/bench/style_losses_speed.json and prints a markdown table.

`--memory` instead runs one-level `nst stylize` processes with each loss (bench/memory_model.py's
cases: the pier photo and the Great Wave, 1 iteration) and records each one's peak RSS against
the plan's estimate for what it held, in the same JSON under "memory".
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nst_command  # noqa: E402

REPORT = ROOT / "docs" / "bench" / "style_losses_speed.json"
LOSSES = ("gram", "w2")


def seconds(case: str, loss: str, threads: int) -> float:
    size, _, tile = case.partition("@")
    command = [*nst_command(), "bench", "--size", size, "--style-loss", loss, "--threads", str(threads),
               "--iterations", "3", "--warmup", "1", "--json", *(["--tile", tile] if tile else [])]
    result = subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    return json.loads(result.stdout)["median_seconds"]


def print_plans() -> dict[str, str]:
    from nst_base.model_store import default_models_dir, open_model
    from nst_ort.options.stylize import StylizeOptions
    from nst_ort.core.levels import plan_stylize

    manifest = open_model(default_models_dir() / "vgg16").manifest
    base = StylizeOptions(size=6000, max_memory=8 * 2**30)
    return {loss: plan_stylize((6000, 4500), replace(base, style_loss=loss), manifest).plans[-1].describe()
            for loss in LOSSES}


def memory(cases: str, threads: int) -> list[dict]:
    """Each loss's peak RSS against the plan's estimate, per case (long side, @tile core)."""
    from bench.memory_model import run_case

    rows = []
    for case in cases.split(","):
        size, _, tile = case.partition("@")
        for loss in LOSSES:
            found = run_case(sys.executable, "portable", int(size), int(tile or 0), threads, 1, threads,
                             ("--style-loss", loss))
            rows.append({"loss": loss, **found})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="384x256,768x512,1536x1024@512")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="peaks against the plan instead of seconds")
    parser.add_argument("--memory-cases", default="640,896,640@256")
    args = parser.parse_args()
    if args.memory:
        report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
        report["memory"] = memory(args.memory_cases, args.threads)
        REPORT.write_text(json.dumps(report, indent=1) + "\n")
        print("| loss | plan | estimate / peak |\n|---|---|---:|")
        for row in report["memory"]:
            print(f"| {row['loss']} | {row['plan']} | {1 + row['error']:.2f} |")
        return
    rows = []
    for case in args.cases.split(","):
        times: dict[str, list[float]] = {loss: [] for loss in LOSSES}
        for _ in range(args.rounds):
            for loss in LOSSES:
                times[loss].append(seconds(case, loss, args.threads))
        medians = {loss: statistics.median(values) for loss, values in times.items()}
        rows.append({"case": case, "threads": args.threads, "seconds": times, "median": medians,
                     "w2_over_gram": round(medians["w2"] / medians["gram"], 3)})
        print(json.dumps(rows[-1]), flush=True)
    report = {"rows": rows, "print_plan_8G": print_plans()}
    REPORT.write_text(json.dumps(report, indent=1) + "\n")
    print("| image | gram s/evaluation | w2 s/evaluation | w2 / gram |\n|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['case']} | {row['median']['gram']:.2f} | {row['median']['w2']:.2f} | {row['w2_over_gram']:.2f} |")
    for loss, plan in report["print_plan_8G"].items():
        print(f"{loss}: {plan}")


if __name__ == "__main__":
    main()
