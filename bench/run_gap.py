"""An evaluation inside a run against `nst bench`'s: the same engine, alone and in an L-BFGS loop.

    .venv/bin/python bench/run_gap.py [--sizes 266x200,533x400] [--threads 2] [--conv auto]

For each size: the median seconds of repeated evaluations of one image (what `nst bench`
times) and the seconds per evaluation of 15 L-BFGS iterations from the photo (what a run
does: the step's own work and whatever it leaves behind, such as spinning BLAS threads,
between evaluations), Tübingen x Starry Night, the default loss, the portable engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality import IMAGES  # noqa: E402
from export.pipeline import ensure_exported  # noqa: E402
from nst_base.model_store import default_models_dir  # noqa: E402
from nst_ort.core.engines.factory import make_engine  # noqa: E402
from nst_ort.core.engines.features import FeatureExtractor  # noqa: E402
from nst_ort.core.optimize import OptimizerSettings, optimize  # noqa: E402
from nst_ort.core.targets import LossWeights, loss_inputs  # noqa: E402
from nst_ort.io.images import load_image, to_array  # noqa: E402
from nst_ort.options.stylize import StylizeOptions  # noqa: E402


def gap(width: int, height: int, threads: int, conv: str, iterations: int = 15) -> dict:
    model = ensure_exported(default_models_dir(), "vgg16", "max")
    photo = to_array(load_image(IMAGES / "content" / "tubingen.jpg"), (width, height))
    painting = to_array(load_image(IMAGES / "style" / "starry_night.jpg"), (width, height))
    inputs = loss_inputs(FeatureExtractor(str(model.features_path), threads), photo, [painting], [1.0],
                         LossWeights.of(StylizeOptions()))
    engine = make_engine("portable", model, inputs, (height, width), threads, conv=conv)
    for _ in range(2):
        engine.evaluate(photo)
    alone = []
    for _ in range(5):
        started = time.perf_counter()
        engine.evaluate(photo)
        alone.append(time.perf_counter() - started)
    started = time.perf_counter()
    outcome = optimize(engine, photo, OptimizerSettings(iterations=iterations))
    in_loop = (time.perf_counter() - started) / outcome.evaluations
    return {"size": f"{width}x{height}", "threads": threads, "conv": conv, "alone_seconds": statistics.median(alone),
            "in_lbfgs_seconds": in_loop, "ratio": in_loop / statistics.median(alone)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="266x200,533x400")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--conv", default="auto")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        width, height = map(int, size.split("x"))
        print(json.dumps(gap(width, height, args.threads, args.conv)), flush=True)


if __name__ == "__main__":
    main()
