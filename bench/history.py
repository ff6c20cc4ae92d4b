"""What a shorter L-BFGS history costs: evaluations to reach the loss the default 10 pairs reach.

    .venv/bin/python bench/history.py [--size 384] [--histories 2,3,5,10] [--evaluations 150]

One level of the default loss (VGG16, Gatys layers and weights) on the pier photo x the Great
Wave, started from the photo, run by the own L-BFGS with each history length on the portable
engine. For each history: the loss after every evaluation, and for checkpoints of the 10-pair
run (its loss after 25, 50, 100 evaluations) the evaluations this history needed to get as
low: the ratio is what nst_ort.core.memory_plan.HISTORY_COST guesses. Writes bench/results/history.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst_base.model_store import open_model  # noqa: E402
from nst_ort.core.engines.factory import make_engine  # noqa: E402
from nst_ort.core.engines.features import FeatureExtractor  # noqa: E402
from nst_ort.io.images import fit_long_side, load_image, to_array  # noqa: E402
from nst_ort.core.optimizers.lbfgs import Lbfgs  # noqa: E402
from nst_ort.core.targets import LossWeights, loss_inputs  # noqa: E402
from nst_ort.core.levels import StylizeOptions  # noqa: E402

IMAGES = ROOT.parent / "shared" / "images"
PHOTO, PAINTING = IMAGES / "content" / "sunset_by_the_pier.jpg", IMAGES / "style" / "great_wave_met_large.jpg"
CHECKPOINTS = (25, 50, 100)


def losses(history: int, evaluate, start: np.ndarray, evaluations: int) -> list[float]:
    """The loss after each evaluation (the best so far), `evaluations` of them."""
    seen: list[float] = []

    def counted(pixels: np.ndarray) -> tuple[float, np.ndarray]:
        result = evaluate(pixels)
        seen.append(min(result.loss, seen[-1]) if seen else result.loss)
        return result.loss, result.grad

    optimizer = Lbfgs(start.shape, history=history)
    optimizer.begin(start)
    while len(seen) < evaluations and optimizer.step(counted) is not None:
        pass
    return seen[:evaluations]


def evaluations_to_reach(curve: list[float], target: float) -> int | None:
    return next((index + 1 for index, loss in enumerate(curve) if loss <= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--histories", default="2,3,5,10")
    parser.add_argument("--evaluations", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model = open_model(ROOT / "models" / "vgg16")
    photo = load_image(PHOTO, draft_long_side=args.size)
    size = fit_long_side(photo.size, args.size)
    content = to_array(photo, size)
    painting = load_image(PAINTING, draft_long_side=args.size)
    style = to_array(painting, fit_long_side(painting.size, args.size))
    weights = LossWeights.of(StylizeOptions(), args.size)
    inputs = loss_inputs(FeatureExtractor(str(model.features_path), args.threads), content, [style], [1.0], weights)
    engine = make_engine("portable", model, inputs, (size[1], size[0]), args.threads)
    curves = {}
    for history in map(int, args.histories.split(",")):
        curves[history] = losses(history, engine.evaluate, content, args.evaluations)
        print(f"history {history}: loss {curves[history][-1]:.4g} after {len(curves[history])} evaluations", flush=True)
    reference = curves[max(curves)]
    rows = []
    for checkpoint in (c for c in CHECKPOINTS if c <= len(reference)):
        target = reference[checkpoint - 1]
        needed = {history: evaluations_to_reach(curve, target) for history, curve in curves.items()}
        rows.append({"reference_evaluations": checkpoint, "loss": target, "evaluations": needed,
                     "ratio": {h: round(n / checkpoint, 2) if n else None for h, n in needed.items()}})
        print(f"to the {max(curves)}-pair loss after {checkpoint}: " +
              ", ".join(f"{h} pairs {n or '>' + str(len(curves[h]))}" for h, n in needed.items()), flush=True)
    out = ROOT / "bench" / "results" / "history.json"
    out.write_text(json.dumps({"size": list(size), "rows": rows, "curves": curves}, indent=1) + "\n")


if __name__ == "__main__":
    main()
