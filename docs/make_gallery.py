"""Regenerate the gallery (docs/gallery.md) and the option examples (docs/options.md) with the project's own `nst`.

    .venv/bin/python docs/make_gallery.py [--only NAME ...] [--jobs 2] # full-size gallery
    .venv/bin/python docs/make_gallery.py --options [--only NAME ...]  # one example per option
    .venv/bin/python docs/make_gallery.py --options --jobs 2           # two runs at a time, 1 thread each
    .venv/bin/python docs/make_gallery.py --threads 1                  # one thread per run (a busy machine)

Inputs come from ../shared/images. Each entry is one `nst stylize` run; the result, its run
report and a line of figures (wall time, loss start -> end) land in docs/gallery/ or
docs/options/. With --options the table in docs/options.md between the `option-examples:begin/end`
markers is rewritten from the examples' reports (the `options` block there is the option reference).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DOCS = Path(__file__).resolve().parent
PAGE = DOCS / "options.md"  # the page the examples table lives on
IMAGES = DOCS.parent.parent / "shared" / "images"
GALLERY = DOCS / "gallery"
OPTIONS = DOCS / "options"
BEGIN, END = "<!-- option-examples:begin -->", "<!-- option-examples:end -->"

GALLERY_RUNS: dict[str, list[str]] = {
    "tubingen_starry_default_533": ["content/tubingen.jpg", "style/starry_night.jpg", "--size", "533"],
    # the first sessions' default style weight, for comparison (the run is otherwise the default)
    "tubingen_starry_sw10_533": ["content/tubingen.jpg", "style/starry_night.jpg", "--size", "533", "--style-weight", "10"],
    "golden_gate_wave": ["content/golden_gate.jpg", "style/great_wave_off_kanagawa.jpg"],
    "hoover_starry_preserve_colors": ["content/hoovertowernight.jpg", "style/starry_night.jpg",
                                      "--preserve-colors", "luminance"],
    "tubingen_starry_tf_course": ["content/tubingen.jpg", "style/starry_night.jpg", "--recipe", "tf-course"],
}


@dataclass(frozen=True)
class Example:
    name: str
    args: tuple[str, ...]  # after CONTENT STYLE (tubingen x starry night) unless `styles` is set
    effect: str
    styles: tuple[str, ...] = ("style/starry_night.jpg",)


WAVE = "style/great_wave_off_kanagawa.jpg"
EXAMPLES = [
    Example("defaults", (), "the defaults (`gatys` recipe), as the reference for the rows below"),
    Example("iterations_20", ("--iterations", "20"), "fewer iterations per level: faster, less converged"),
    Example("coarse_iterations_20", ("--coarse-iterations", "20"), "a short coarse level: less large-scale structure"),
    Example("scales_1", ("--scales", "1"), "no coarse-to-fine: all iterations at the final size, smaller strokes"),
    Example("style_weight_0.5", ("--style-weight", "0.5"), "less style: more of the photo"),
    Example("style_weight_5", ("--style-weight", "5"), "more style"),
    Example("style_weight_10", ("--style-weight", "10"), "the first sessions' default: the painting takes over"),
    Example("content_weight_5", ("--content-weight", "5"), "more content (like less style)"),
    Example("tv_weight_50", ("--tv-weight", "50"), "smoother, fewer fine strokes"),
    Example("content_layers_relu2_2", ("--content-layers", "relu2_2"), "a shallow content layer keeps the photo's detail"),
    Example("style_layers_fine", ("--style-layers", "relu1_1,relu2_1"), "shallow style layers: colours and fine texture only"),
    Example("similarity_style", ("--similarity", "style"), "style weight on the shallow layers"),
    Example("style_scale_0.5", ("--style-scale", "0.5"), "style image at half the working size: smaller strokes"),
    Example("blend", ("--style-blend", "0.5,0.5"), "two styles, half each", ("style/starry_night.jpg", WAVE)),
    Example("mask", ("--mask", "options/mask_left.png", "--mask", "options/mask_right.png"),
            "Starry Night on the left, the Great Wave on the right (masks below)", ("style/starry_night.jpg", WAVE)),
    Example("preserve_luminance", ("--preserve-colors", "luminance"), "the content's colours, the style's luminance"),
    Example("preserve_histogram", ("--preserve-colors", "histogram"), "the style recoloured to the content's palette first"),
    Example("init_noise", ("--init", "noise"), "start from noise instead of the content"),
    Example("init_noise_0.3", ("--init-noise", "0.3", "--seed", "1"), "content plus noise; `--seed` repeats it exactly"),
    Example("adam", ("--optimizer", "adam", "--learning-rate", "0.02"), "Adam instead of L-BFGS (same iterations)"),
    Example("pool_avg", ("--pool", "avg"), "average pooling (exported on first use)"),
]
EXAMPLE_SIZE = "256"


def nst_command() -> list[str]:
    script = Path(sys.executable).with_name("nst")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def _resolve(item: str) -> str:
    """Image names relative to ../shared/images (content/, style/) or docs/ (options/) as paths."""
    if item.startswith(("content/", "style/")):
        return str(IMAGES / item)
    return str(DOCS / item) if item.startswith("options/") else item


def stylize(inputs: list[str], extra: list[str], out: Path) -> dict:
    """One `nst stylize` run writing `out` and its report beside it; returns the report."""
    report = out.with_suffix(".json")
    args = [_resolve(item) for item in [*inputs, *extra]]
    started = time.time()
    subprocess.run([*nst_command(), "stylize", *args, "-o", str(out), "--report", str(report), "--quiet", "--restart"],
                   check=True, cwd=DOCS.parent)
    data = json.loads(report.read_text())
    first = data["iterations"][0]["loss"] if data["iterations"] else float("nan")
    print(f"{out.stem}: {time.time() - started:.0f} s wall, loss {first:.4g} -> {data['final_loss']:.4g}, "
          f"levels {[level['size'] for level in data['levels']]}", flush=True)
    return data


def write_masks(size: tuple[int, int] = (256, 192)) -> None:
    """A left and a right region with a soft 16-pixel seam (they are resized with the content)."""
    ramp = np.clip((np.arange(size[0]) - size[0] / 2) / 16 + 0.5, 0, 1)
    right = np.repeat((ramp * 255).astype(np.uint8)[None], size[1], axis=0)
    Image.fromarray(255 - right).save(OPTIONS / "mask_left.png")
    Image.fromarray(right).save(OPTIONS / "mask_right.png")


def thumbnail(source: Path, target: Path) -> None:
    if not target.exists() and source.exists():
        image = Image.open(source).convert("RGB")
        image.thumbnail((256, 256))
        image.save(target, quality=85)


def options_table() -> str:
    rows = ["| option | effect | result | seconds |", "|---|---|---|---:|"]
    for example in EXAMPLES:
        report = OPTIONS / f"{example.name}.json"
        if not report.exists():
            continue
        seconds = json.loads(report.read_text())["total_seconds"]
        styles = " ".join(Path(style).stem for style in example.styles)
        command = f"`{' '.join(example.args)}`" if example.args else "(defaults)"
        rows.append(f"| {command}{'' if styles == 'starry_night' else f' (styles: {styles})'} | {example.effect} | "
                    f"![](options/{example.name}.jpg) | {seconds:.0f} |")  # relative to PAGE
    return "\n".join(rows)


def update_page(table: str) -> None:
    text = PAGE.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise SystemExit(f"{PAGE} needs exactly one {BEGIN} ... {END}")
    head, rest = text.split(BEGIN, 1)
    PAGE.write_text(head + BEGIN + "\n" + table + "\n" + END + rest.split(END, 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", action="store_true", help="the option examples instead of the gallery")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each gets cores / jobs threads)")
    parser.add_argument("--threads", type=int, default=0, help="threads per run (0: cores / jobs)")
    args = parser.parse_args()
    per_run = args.threads or (max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else 0)
    threads = ["--threads", str(per_run)] if per_run else []
    if args.options:
        OPTIONS.mkdir(parents=True, exist_ok=True)
        write_masks()
        todo = [example for example in EXAMPLES if not args.only or example.name in args.only]
        with ThreadPoolExecutor(args.jobs) as pool:
            runs = [pool.submit(stylize, ["content/tubingen.jpg", *example.styles],
                                ["--size", EXAMPLE_SIZE, *threads, *example.args], OPTIONS / f"{example.name}.jpg")
                    for example in todo]
            for run in runs:
                run.result()
        update_page(options_table())
    else:
        GALLERY.mkdir(parents=True, exist_ok=True)
        todo = [(name, run) for name, run in GALLERY_RUNS.items() if not args.only or name in args.only]
        with ThreadPoolExecutor(args.jobs) as pool:
            for run in [pool.submit(stylize, [*run, *threads], [], GALLERY / f"{name}.jpg") for name, run in todo]:
                run.result()
        for style in sorted({item for run in GALLERY_RUNS.values() for item in run if item.startswith("style/")}):
            thumbnail(IMAGES / style, GALLERY / f"input_{Path(style).stem}.jpg")
    shutil.rmtree(DOCS / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
