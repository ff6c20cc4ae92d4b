"""Exact tiled evaluation against untiled: seconds per evaluation and peak RSS, side by side.

    .venv/bin/python bench/tiled.py [--sizes 533x400,1024x768,2000x1500] [--tile 512] [--threads 2]

Every measurement is its own `nst bench --json` process (peak RSS is per process). Untiled
runs only where the memory plan says they fit in the memory free now. Also prints the
plan's estimate for a whole run at each size (bench measures one evaluation: no optimiser
vectors). Writes bench/results/tiled.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst_ort.memory import available_bytes, estimate_run_bytes  # noqa: E402


def nst_command() -> list[str]:
    script = Path(sys.executable).with_name("nst")
    return [str(script)] if script.exists() else [sys.executable, str(ROOT / "cli.py")]


def bench(size: str, tile: int, args: argparse.Namespace) -> dict:
    command = [*nst_command(), "bench", "--size", size, "--json", "--threads", str(args.threads),
               "--iterations", str(args.evaluations), "--warmup", str(args.warmup), "--tile", str(tile)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="533x400,1024x768,2000x1500")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        width, height = map(int, size.split("x"))
        fits = estimate_run_bytes(width, height) < (available_bytes() or 0)
        untiled = bench(size, 0, args) if fits else None
        tiled = bench(size, args.tile, args)
        rows.append({"size": size, "tile": args.tile, "untiled": untiled, "tiled": tiled,
                     "seconds_ratio": tiled["median_seconds"] / untiled["median_seconds"] if untiled else None,
                     "rss_ratio": tiled["peak_rss_bytes"] / untiled["peak_rss_bytes"] if untiled else None})
        print(json.dumps(rows[-1]), flush=True)
    out = ROOT / "bench" / "results" / "tiled.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=1) + "\n")
    print(f"| size | untiled s/eval | tiles of {args.tile} px s/eval | tiled / untiled | untiled RSS | tiled RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        untiled, tiled = row["untiled"], row["tiled"]
        gib = lambda value: f"{value / 2**30:.2f} GiB"  # noqa: E731
        print(f"| {row['size']} | {untiled['median_seconds']:.2f} | {tiled['median_seconds']:.2f} | "
              f"{row['seconds_ratio']:.2f} | {gib(untiled['peak_rss_bytes'])} | {gib(tiled['peak_rss_bytes'])} |"
              if untiled else f"| {row['size']} | (does not fit) | {tiled['median_seconds']:.2f} | | | "
              f"{gib(tiled['peak_rss_bytes'])} |")


if __name__ == "__main__":
    main()
