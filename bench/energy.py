"""What a picture costs in time and energy on this machine, and the cheapest way to make one.

    .venv/bin/python bench/energy.py measure   # display pictures, 1 and 2 threads, default and --gentle
    .venv/bin/python bench/energy.py prints    # the prints again from the measured pace (measure does it too)
    .venv/bin/python bench/energy.py page      # the table in docs/energy.md from docs/bench/energy.json

`measure` runs `nst stylize` as a user does (tubingen x starry night from ../shared/images,
533 px, the default recipe) once per way of running it, and keeps each report's time and
energy block; prints (3000 and 6000 px) are plan estimates (`nst stylize --dry-run`) scaled
by the pace measured at 533 px, as they take hours here. Results go to docs/bench/energy.json
as they come (a long measurement can be read while it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from nst_ort.core.estimate import estimate_run  # noqa: E402
from nst_ort.options.clock import format_seconds  # noqa: E402
from nst_ort.options.recipes import recipe_options  # noqa: E402
from nst_ort.platform.energy import cpu_model_name, cpu_class, watts_per_core  # noqa: E402
from readme import DOCS, replace_block  # noqa: E402

RESULTS = DOCS / "bench" / "energy.json"
PAGE = DOCS / "energy.md"
SHARED = ROOT.parent / "shared" / "images"
CONTENT, STYLE = SHARED / "content" / "tubingen.jpg", SHARED / "style" / "starry_night.jpg"
WAYS = {  # name -> extra flags
    "2 threads": ["--threads", "2"],
    "1 thread": ["--threads", "1"],
    "--gentle (1 thread, nice 10)": ["--gentle"],
    "--gentle --threads 2": ["--gentle", "--threads", "2"],
}
PRINTS = (3000, 6000)


def run(extra: list[str], folder: Path) -> dict:
    out, report = folder / "out.png", folder / "report.json"
    command = [sys.executable, "-m", "cli", "stylize", str(CONTENT), str(STYLE), "-o", str(out), "--size", "533",
               "--report", str(report), "--quiet", "--checkpoint-every", "0", "--restart", *extra]
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - began
    data = json.loads(report.read_text())
    return {"seconds": data["total_seconds"], "wall_seconds": wall, "energy": data["energy"]}


def measure(args: argparse.Namespace) -> None:
    results = {"machine": {"cpu": cpu_model_name(), "class": cpu_class(cpu_model_name(), platform.machine()),
                           "cores": os.cpu_count(), "watts_per_core": watts_per_core()},
               "display": {}, "prints": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name, extra in WAYS.items():
            results["display"][name] = run(extra, Path(folder))
            print(name, results["display"][name], flush=True)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    prints(args)


def prints(args: argparse.Namespace) -> None:
    """The prints from their plans, at the pace and the busy cores measured at 533 px (already in
    docs/bench/energy.json: `measure` runs this last)."""
    results = json.loads(RESULTS.read_text())
    results["prints"] = {}
    for size in PRINTS:
        for threads in (1, 2):
            display = results["display"]["2 threads" if threads == 2 else "1 thread"]
            planned = estimate_run((1024, 768), recipe_options(size=533, threads=threads)).seconds
            scale = display["seconds"] / planned  # this machine's pace against the estimate's
            busy = display["energy"]["cpu_seconds"] / display["seconds"]  # cores kept busy on average
            seconds = estimate_run((4000, 3000), recipe_options(size=size, threads=threads, max_memory="8G")).seconds
            results["prints"][f"{size} px, {threads} thread{'s' if threads > 1 else ''}"] = {
                "seconds": seconds * scale, "wh": seconds * scale * busy * watts_per_core() / 3600,
                "scale": scale, "busy_cores": busy}
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


def page(args: argparse.Namespace) -> None:
    results = json.loads(RESULTS.read_text())
    machine = results["machine"]
    rows = ["| picture | how | time | energy | CPU seconds |", "|---|---|---|---|---|"]
    for name, result in results["display"].items():
        energy = result["energy"]
        rows.append(f"| 533x400, default recipe | {name} | {format_seconds(result['seconds'])} | "
                    f"{energy['wh']:.2f} Wh ({energy['method']}) | {energy['cpu_seconds']:.0f} |")
    for name, result in results["prints"].items():
        size, threads = name.split(", ")
        rows.append(f"| {size} print (plan estimate) | {threads} | {format_seconds(result['seconds'])} | "
                    f"{result['wh']:.1f} Wh (estimate) | |")
    note = (f"\nMeasured on {machine['cpu']} ({machine['cores']} cores, class `{machine['class']}`: "
            f"{machine['watts_per_core']:g} W per busy core), `bench/energy.py`.")
    replace_block("energy", "\n".join(rows) + "\n" + note, PAGE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("measure")
    commands.add_parser("prints")
    commands.add_parser("page")
    args = parser.parse_args()
    {"measure": measure, "prints": prints, "page": page}[args.command](args)


if __name__ == "__main__":
    main()
