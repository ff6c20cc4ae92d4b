"""Regenerate the README gallery from ../shared/images with the project's own `nst`.

    .venv/bin/python docs/make_gallery.py [--only NAME ...]

Each entry is one `nst stylize` run; the result, its run report and a line of figures
(wall time, loss start -> end) land in docs/gallery/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS.parent.parent / "shared" / "images"
GALLERY = DOCS / "gallery"

RUNS: dict[str, list[str]] = {
    "tubingen_starry_gatys_512": ["content/tubingen.jpg", "style/starry_night.jpg", "--size", "512", "--iterations", "300"],
    "tubingen_starry_default_533": ["content/tubingen.jpg", "style/starry_night.jpg", "--size", "533"],
    "golden_gate_wave": ["content/golden_gate.jpg", "style/great_wave_off_kanagawa.jpg"],
    "chicago_composition_vii": ["content/chicago_skyline.jpg", "style/composition_vii.jpg"],
    "hoover_starry_preserve_colors": ["content/hoovertowernight.jpg", "style/starry_night.jpg",
                                      "--preserve-colors", "luminance"],
    "bamboo_water_lilies_blend": ["content/sagano_bamboo_forest.jpg", "style/water_lilies_monet_1919.jpg",
                                  "style/woman_with_hat_matisse.jpg", "--style-blend", "0.5,0.5"],
    "tubingen_starry_tf_course": ["content/tubingen.jpg", "style/starry_night.jpg", "--recipe", "tf-course"],
    "tubingen_starry_keras_book_1000": ["content/tubingen.jpg", "style/starry_night.jpg", "--recipe", "keras-book",
                                        "--iterations", "1000"],
}


def nst_command() -> list[str]:
    script = Path(sys.executable).with_name("nst")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    GALLERY.mkdir(parents=True, exist_ok=True)
    for name, run in RUNS.items():
        if args.only and name not in args.only:
            continue
        paths = [str(IMAGES / item) if "/" in item and not item.startswith("-") else item for item in run]
        out, report = GALLERY / f"{name}.jpg", GALLERY / f"{name}.json"
        started = time.time()
        subprocess.run([*nst_command(), "stylize", *paths, "-o", str(out), "--report", str(report)], check=True,
                       cwd=DOCS.parent)
        data = json.loads(report.read_text())
        first = data["iterations"][0]["loss"] if data["iterations"] else float("nan")
        print(f"{name}: {time.time() - started:.0f} s wall, loss {first:.4g} -> {data['final_loss']:.4g}, "
              f"engine {data['settings']['engine']}, levels {[lv['size'] for lv in data['levels']]}")
    for style in sorted({item for run in RUNS.values() for item in run if item.startswith("style/")}):
        thumb = GALLERY / f"input_{Path(style).stem}.jpg"
        if not thumb.exists() and (IMAGES / style).exists():
            from PIL import Image

            image = Image.open(IMAGES / style).convert("RGB")
            image.thumbnail((256, 256))
            image.save(thumb, quality=85)
    shutil.rmtree(GALLERY / "__pycache__", ignore_errors=True)


if __name__ == "__main__":
    main()
