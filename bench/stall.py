"""Where a level's iterations stop paying: loss and quality against iterations, per level.

    .venv/bin/python bench/stall.py curves [--size 512] [--pairs tubingen_x_starry_night,...]
    .venv/bin/python bench/stall.py compare [--size 512] [--stall 0.002,0.005]

`curves`: one default run per pair (no stopping on stalls), its loss after every iteration of
every level, and the final level's picture every 10 iterations scored by bench/quality.py's
measures (content_rel, style_rel, swd, colour, edge_ssim) and its mean difference from the
finished picture: how much the last iterations change. `compare`: the default run with each
`--stall` threshold against the run without (`--stall 0`), the same measures and the seconds
and evaluations each took. Runs in this process on the exported VGG16; results are written as
they come to bench/results/stall_{curves,compare}.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality import IMAGES, PAIRS, open_meter, pair_name  # noqa: E402
from export.pipeline import ensure_exported  # noqa: E402
from nst_base.model_store import default_models_dir  # noqa: E402
from nst_ort.core.levels import StylizeOptions, stylize  # noqa: E402
from nst_ort.io.images import load_image, to_image  # noqa: E402

RESULTS = ROOT / "bench" / "results"
EVERY = 10  # the final level's picture is scored every this many iterations


def selected(names: str | None) -> list[tuple[str, str]]:
    return [pair for pair in PAIRS if names is None or pair_name(*pair) in names.split(",")]


def run(pair: tuple[str, str], options: StylizeOptions, snapshots: dict[int, Image.Image] | None = None) -> dict:
    """One default run of `pair`; the loss after each iteration per level, and with `snapshots`
    the final level's picture every EVERY iterations."""
    content, style = (load_image(IMAGES / folder / name) for folder, name in zip(("content", "style"), pair))
    losses: dict[int, list[float]] = {}

    def on_progress(progress, pixels: np.ndarray) -> None:
        losses.setdefault(progress.level, []).append(progress.loss)
        if snapshots is not None and progress.level == progress.levels and progress.iteration % EVERY == 0:
            snapshots[progress.iteration] = to_image(pixels)

    model = ensure_exported(default_models_dir(), "vgg16", "max")
    started = time.perf_counter()
    result = stylize(content, [style], model, options, on_progress=on_progress)
    return {"pair": pair_name(*pair), "seconds": time.perf_counter() - started,
            "evaluations": result.outcome.evaluations, "losses": {str(k): v for k, v in losses.items()},
            "image": result.image, "content": content, "style": style}


def scored(meter, image: Image.Image, content: Image.Image, style: Image.Image, finished: Image.Image) -> dict:
    quality = asdict(meter.measure(image, content, style))
    difference = np.abs(np.asarray(image, np.float64) - np.asarray(finished, np.float64)).mean()
    return {**quality, "mean_difference_to_finished": float(difference)}


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1) + "\n")


def curves(args: argparse.Namespace) -> None:
    meter, rows = open_meter(), []
    for pair in selected(args.pairs):
        snapshots: dict[int, Image.Image] = {}
        done = run(pair, StylizeOptions(size=args.size, stall=0.0), snapshots)
        scores = {str(k): scored(meter, image, done["content"], done["style"], done["image"])
                  for k, image in sorted(snapshots.items())}
        rows.append({key: done[key] for key in ("pair", "seconds", "evaluations", "losses")} | {"scores": scores})
        print(json.dumps({"pair": done["pair"], "seconds": done["seconds"],
                          "scores": {k: (round(v["content_rel"], 4), round(v["style_rel"], 5)) for k, v in scores.items()}}),
              flush=True)
        write(RESULTS / "stall_curves.json", rows)


def compare(args: argparse.Namespace) -> None:
    meter, rows = open_meter(), []
    thresholds = [0.0, *(float(value) for value in args.stall.split(","))]
    for pair in selected(args.pairs):
        reference = None
        for threshold in thresholds:
            done = run(pair, StylizeOptions(size=args.size, stall=threshold))
            if reference is None:
                reference = done["image"]
            row = {"pair": done["pair"], "stall": threshold, "seconds": done["seconds"],
                   "evaluations": done["evaluations"],
                   "iterations_per_level": {k: len(v) for k, v in done["losses"].items()},
                   **scored(meter, done["image"], done["content"], done["style"], reference)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            write(RESULTS / "stall_compare.json", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("curves", "compare"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", help="pair names, comma-separated (default: all)")
    parser.add_argument("--stall", default="0.002", help="compare: thresholds, comma-separated")
    args = parser.parse_args()
    {"curves": curves, "compare": compare}[args.what](args)


if __name__ == "__main__":
    main()
