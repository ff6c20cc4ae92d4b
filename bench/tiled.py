"""Exact tiled evaluation against untiled and PyTorch: seconds per evaluation and peak RSS, side by side.

    .venv/bin/python bench/tiled.py [--sizes 533x400,1024x768,2000x1500] [--tile 512] [--threads 2] [--torch] [--out FILE]
    .venv/bin/python bench/tiled.py --combine A.json B.json --out docs/bench/tiled.json

Every measurement is its own process (peak RSS is per process): `nst bench --json` untiled
and tiled, and with --torch bench/torch_baseline.py (channels_last, the faster PyTorch
layout; its venv from bench/compare.py). Untiled and PyTorch run only where the memory plan
says an untiled run fits in the memory free now (PyTorch's peak matched ours at 533x400 and
800x600, docs/bench/compare.md). Writes bench/results/tiled.json and prints a markdown table.
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
from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS  # noqa: E402
from nst_ort.platform.memory import available_bytes  # noqa: E402
from nst_ort.core.memory_plan import PlanRequest  # noqa: E402


def untiled_run_bytes(width: int, height: int) -> int:
    """The plan's estimate for an untiled default run (VGG16, Gatys layers, L-BFGS, one style)."""
    layers = DEFAULT_LOSS_LAYERS
    return PlanRequest(width, height, "portable", "lbfgs", "vgg16", layers.content + layers.style, layers.content,
                       {"relu4_2": 512}).untiled_estimate()


def bench(size: str, tile: int, args: argparse.Namespace) -> dict:
    command = [*nst_command(), "bench", "--size", size, "--json", "--threads", str(args.threads),
               "--iterations", str(args.evaluations), "--warmup", str(args.warmup), "--tile", str(tile)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout)


def torch_bench(size: str, args: argparse.Namespace) -> dict:
    from bench.compare import ensure_torch_venv

    python = ensure_torch_venv(ROOT / ".venv-torch")
    command = [str(python), str(ROOT / "bench" / "torch_baseline.py"), "--features", str(ROOT / "models" / "vgg16" /
               "features.onnx"), "--size", size, "--memory-format", "channels_last", "--threads", str(args.threads),
               "--iterations", str(args.evaluations), "--warmup", str(args.warmup)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="533x400,1024x768,2000x1500")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--torch", action="store_true", help="add PyTorch untiled where it fits")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tiled.json")
    parser.add_argument("--untiled-anyway", action="store_true",
                        help="untiled (and PyTorch) at every size, even where an untiled stylize run would not fit "
                             "(one evaluation needs less than a run; the machine must have the memory)")
    parser.add_argument("--combine", type=Path, nargs="+",
                        help="no measuring: merge these result files (per size and implementation the fastest "
                             "evaluation: noise on a shared machine only slows) and print the table")
    args = parser.parse_args()
    if args.combine:
        rows = combine([json.loads(path.read_text())["rows"] for path in args.combine])
        args.out.write_text(json.dumps({"combined": [str(p) for p in args.combine], "rows": rows}, indent=1) + "\n")
        print(table(rows, rows[0]["tile"], "min_seconds"))
        return
    rows = []
    for size in args.sizes.split(","):
        width, height = map(int, size.split("x"))
        fits = args.untiled_anyway or untiled_run_bytes(width, height) < (available_bytes() or 0)
        untiled = bench(size, 0, args) if fits else None
        tiled = bench(size, args.tile, args)
        torch = torch_bench(size, args) if fits and args.torch else None
        rows.append({"size": size, "tile": args.tile, "untiled": untiled, "tiled": tiled, "pytorch": torch,
                     "seconds_ratio": tiled["median_seconds"] / untiled["median_seconds"] if untiled else None,
                     "rss_ratio": tiled["peak_rss_bytes"] / untiled["peak_rss_bytes"] if untiled else None})
        print(json.dumps(rows[-1]), flush=True)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=1) + "\n")
    print(table(rows, args.tile))


def combine(runs: list[list[dict]]) -> list[dict]:
    """One row per size: per implementation the measurement with the fastest evaluation."""
    merged: dict[str, dict] = {}
    for row in (row for rows in runs for row in rows):
        into = merged.setdefault(row["size"], {"size": row["size"], "tile": row["tile"]})
        for kind in ("untiled", "tiled", "pytorch"):
            old, new = into.get(kind), row.get(kind)
            if new and (not old or new["min_seconds"] < old["min_seconds"]):
                into[kind] = new
    for row in merged.values():
        untiled, tiled = row.get("untiled"), row["tiled"]
        row["seconds_ratio"] = tiled["min_seconds"] / untiled["min_seconds"] if untiled else None
        row["rss_ratio"] = tiled["peak_rss_bytes"] / untiled["peak_rss_bytes"] if untiled else None
    return sorted(merged.values(), key=lambda row: int(row["size"].split("x")[0]))


def table(rows: list[dict], tile: int, statistic: str = "median_seconds") -> str:
    """Markdown: seconds per evaluation and peak RSS per implementation, tiled / untiled ratios."""
    def seconds(result: dict | None) -> str:
        return f"{result[statistic]:.2f}" if result else "(does not fit)"

    def rss(result: dict | None) -> str:
        return f"{result['peak_rss_bytes'] / 2**30:.2f} GiB" if result else ""

    lines = [f"| size | untiled s/eval | tiles of {tile} px s/eval | PyTorch s/eval | tiled / untiled time | "
             "untiled RSS | tiled RSS | PyTorch RSS |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        untiled, tiled, torch = row.get("untiled"), row["tiled"], row.get("pytorch")
        ratio = f"{row['seconds_ratio']:.2f}" if row["seconds_ratio"] else ""
        lines.append(f"| {row['size']} | {seconds(untiled)} | {seconds(tiled)} | {seconds(torch) if torch else ''} | "
                     f"{ratio} | {rss(untiled)} | {rss(tiled)} | {rss(torch)} |")
    return "\n".join(lines)

if __name__ == "__main__":
    main()
