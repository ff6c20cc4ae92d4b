"""The memory plan's estimate against the measured peak RSS, one short real run per case.

    .venv/bin/python bench/estimate.py [--cases 512,1024,1536,2048,3000@2G:3] [--iterations 12] [--engine training]

Each case is `nst stylize` (its own process) at one level (`--scales 1`) on the pier photo and
the Great Wave: SIZE runs as the plan decides on this machine, SIZE@LIMIT with --max-memory
LIMIT (tiled where untiled does not fit), and :N runs N iterations instead of --iterations
(the estimate counts a full L-BFGS history: 10 pairs untiled take 11 iterations). The run
report holds the plan's estimate and the measured peak (levels[].estimated_peak_bytes,
peak_rss_bytes). Writes bench/results/estimate.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nst_command  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
PHOTO, PAINTING = IMAGES / "content" / "sunset_by_the_pier.jpg", IMAGES / "style" / "great_wave_met_large.jpg"
WORK = ROOT / "bench" / "results" / "estimate"


def measure(case: str, iterations: int, threads: int, engine: str) -> dict:
    case, _, count = case.partition(":")
    iterations = int(count) if count else iterations
    size, _, limit = case.partition("@")
    WORK.mkdir(parents=True, exist_ok=True)
    name = f"{case.replace('@', '_')}_{engine}"
    report = WORK / f"{name}.json"
    command = [*nst_command(), "stylize", str(PHOTO), str(PAINTING), "-o", str(WORK / f"{name}.png"), "--size", size,
                "--scales", "1", "--iterations", str(iterations), "--threads", str(threads), "--report", str(report),
                "--engine", engine, "--quiet", "--restart", *(["--max-memory", limit] if limit else [])]
    subprocess.run(command, check=True, cwd=ROOT)
    level = json.loads(report.read_text())["levels"][-1]
    estimate, peak = level["estimated_peak_bytes"], level["peak_rss_bytes"]
    return {"case": case, "engine": engine, "iterations": iterations, "size": level["size"], "plan": level["plan"],
            "estimated_peak_bytes": estimate, "peak_rss_bytes": peak, "error": round((estimate - peak) / peak, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="512,1024,1536,2048")
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", default="portable", help="portable or training")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "estimate.json")
    args = parser.parse_args()
    rows = []
    for case in args.cases.split(","):
        rows.append(measure(case, args.iterations, args.threads, args.engine))
        print(json.dumps(rows[-1]), flush=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print("| run | plan | estimated peak | measured peak | estimate off by |\n|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['case']} | {row['plan']} | {row['estimated_peak_bytes'] / 2**30:.2f} GiB | "
              f"{row['peak_rss_bytes'] / 2**30:.2f} GiB | {row['error']:+.0%} |")


if __name__ == "__main__":
    main()
