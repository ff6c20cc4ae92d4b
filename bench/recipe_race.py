"""The Keras-book recipe (SGD lr 100, x0.96 per 100 steps) vs L-BFGS-B on the same loss.

Both optimise the keras-book loss (its weights and formulas, DESIGN.md §4) from the content
image at the same size, with the same engine; VGG16 stands in for VGG19 when no VGG19 was
exported (as seed 000's runs 2-4). Reports how many evaluations and seconds L-BFGS needs to
reach SGD's final loss, as JSON, markdown and a PNG plot (loss vs seconds).

    .venv/bin/python bench/recipe_race.py --steps 1000 --size 533
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.plot import line_plot  # noqa: E402
from export.pipeline import ensure_exported  # noqa: E402
from nst_base.model_store import default_models_dir  # noqa: E402
from nst_ort.api import choose_net  # noqa: E402
from nst_ort.io.inputs import load_inputs  # noqa: E402
from nst_ort.jobs.progress import TerminalReporter  # noqa: E402
from nst_ort.options.recipes import recipe_options  # noqa: E402
from nst_ort.core.levels import stylize  # noqa: E402

IMAGES = BENCH.parent.parent / "shared" / "images"


def run(options, content, style, model):
    print(f"{options.optimizer}: {options.iterations} iterations", file=sys.stderr)
    result = stylize(content, [style], model, options,
                     on_progress=TerminalReporter(every=max(1, options.iterations // 40)))
    curve = [(p.evaluations, p.elapsed, p.loss) for p in result.outcome.history]
    return result, curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=IMAGES / "content" / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=IMAGES / "style" / "starry_night.jpg")
    parser.add_argument("--size", type=int, default=533, help="long side (the book: 400 high = 533x400)")
    parser.add_argument("--steps", type=int, default=4000, help="SGD steps (the book: 4000)")
    parser.add_argument("--lbfgs-iterations", type=int, default=0, help="default: steps / 10")
    parser.add_argument("--engine", default="portable")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()

    sgd = recipe_options("keras-book", size=args.size, iterations=args.steps, engine=args.engine, threads=args.threads)
    content, styles = load_inputs(args.content, [args.style], sgd, explicit_size=True)
    models_dir = args.models_dir or default_models_dir()
    sgd = choose_net(sgd, models_dir, notify=print, vgg16_fallback=True)
    model = ensure_exported(models_dir, sgd.net, sgd.pool, print)
    lbfgs = replace(sgd, optimizer="lbfgs", iterations=args.lbfgs_iterations or max(10, args.steps // 10))

    sgd_result, sgd_curve = run(sgd, content, styles[0], model)
    target = sgd_curve[-1][2]
    lbfgs_result, lbfgs_curve = run(lbfgs, content, styles[0], model)
    reached = next(((evals, seconds) for evals, seconds, loss in lbfgs_curve if loss <= target), None)

    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "size": list(content.size if max(content.size) == args.size else sgd_result.image.size),
        "net": sgd.net, "engine": args.engine, "sgd_steps": args.steps,
        "sgd_final_loss": target, "sgd_seconds": sgd_curve[-1][1],
        "lbfgs_evaluations_to_reach": reached[0] if reached else None,
        "lbfgs_seconds_to_reach": reached[1] if reached else None,
        "lbfgs_final_loss": lbfgs_curve[-1][2], "lbfgs_evaluations": lbfgs_curve[-1][0],
        "evaluation_ratio": (args.steps / reached[0]) if reached else None,
        "sgd_curve": sgd_curve, "lbfgs_curve": lbfgs_curve,
    }
    (args.out / "recipe_race.json").write_text(json.dumps(summary, indent=1) + "\n")
    sgd_result.image.save(args.out / "recipe_race_sgd.png")
    lbfgs_result.image.save(args.out / "recipe_race_lbfgs.png")
    ratio = f"{summary['evaluation_ratio']:.1f}x fewer" if reached else "not reached"
    table = "\n".join([
        f"Keras-book loss ({sgd.net}, {summary['size'][0]}x{summary['size'][1]}, engine {args.engine})",
        "",
        "| optimiser | evaluations | seconds | loss |",
        "|---|---:|---:|---:|",
        f"| SGD lr 100, x0.96/100 steps (the book) | {args.steps} | {sgd_curve[-1][1]:.0f} | {target:.4g} |",
        f"| L-BFGS-B to the same loss | {reached[0] if reached else '-'} | "
        f"{reached[1] if reached else float('nan'):.0f} | <= {target:.4g} |",
        f"| L-BFGS-B, all {lbfgs.iterations} iterations | {lbfgs_curve[-1][0]} | {lbfgs_curve[-1][1]:.0f} | "
        f"{lbfgs_curve[-1][2]:.4g} |",
        "",
        f"L-BFGS-B reaches the book's final loss with {ratio} evaluations.",
    ])
    (args.out / "recipe_race.md").write_text(table + "\n")
    line_plot({"SGD (keras-book)": [(s, loss) for _, s, loss in sgd_curve],
               "L-BFGS-B": [(s, loss) for _, s, loss in lbfgs_curve]},
              args.out / "recipe_race.png", title="keras-book loss vs time")
    print(table)


if __name__ == "__main__":
    main()
