"""The own L-BFGS against scipy's L-BFGS-B (and Adam) on the same run: loss after N evaluations.

    .venv/bin/python bench/optimizers.py [--size 512] [--methods lbfgs,scipy-lbfgsb] [--jobs 2]

Each method runs `nst stylize` on Tübingen x Starry Night with the defaults (one thread per
run, `--jobs` runs at a time). Within a level the loss function is fixed, so the methods are
compared level by level at equal evaluation counts; the final level decides. Writes
bench/results/optimizers_<size>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nst_command  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
RESULTS = ROOT / "bench" / "results"


def run(method: str, size: int, extra: list[str]) -> dict:
    out = RESULTS / "optimizers" / f"{method}_{size}.png"
    report = out.with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([*nst_command(), "stylize", str(IMAGES / "content" / "tubingen.jpg"),
                    str(IMAGES / "style" / "starry_night.jpg"), "-o", str(out), "--report", str(report), "--quiet",
                    "--size", str(size), "--optimizer", method, "--threads", "1", *extra], check=True, cwd=ROOT)
    return json.loads(report.read_text())


def compare(reports: dict[str, dict]) -> list[dict]:
    rows = []
    levels = sorted({entry["level"] for report in reports.values() for entry in report["iterations"]})
    for level in levels:
        per_method = {m: [e for e in r["iterations"] if e["level"] == level] for m, r in reports.items()}
        budget = min(entries[-1]["evaluations"] for entries in per_method.values())
        for method, entries in per_method.items():
            within = [e["loss"] for e in entries if e["evaluations"] <= budget]
            rows.append({"level": level, "method": method, "evaluations": budget, "loss": min(within),
                         "iterations": len(entries), "level_evaluations": entries[-1]["evaluations"],
                         "seconds": entries[-1]["seconds"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--methods", default="lbfgs,scipy-lbfgsb")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `nst stylize` options")
    args = parser.parse_args()
    methods = args.methods.split(",")
    with ThreadPoolExecutor(args.jobs) as pool:
        reports = dict(zip(methods, pool.map(lambda m: run(m, args.size, args.extra), methods)))
    rows = compare(reports)
    reference = {row["level"]: row["loss"] for row in rows if row["method"] == methods[-1]}
    for row in rows:
        row["loss_vs_" + methods[-1]] = row["loss"] / reference[row["level"]]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"optimizers_{args.size}.json").write_text(json.dumps(
        {"size": args.size, "methods": methods, "extra": args.extra, "rows": rows,
         "total_seconds": {m: r["total_seconds"] for m, r in reports.items()},
         "peak_rss_bytes": {m: r["peak_rss_bytes"] for m, r in reports.items()}}, indent=1) + "\n")
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main()
