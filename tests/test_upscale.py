"""Results carry their settings; `nst upscale` takes a chosen result up to a larger size from itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nst_ort.io.images import read_settings
from tests.helpers import one_line_error, nst


def _inputs(folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(8)
    paths = folder / "photo.png", folder / "painting.png"
    for path, size in zip(paths, ((60, 80, 3), (48, 48, 3))):
        Image.fromarray(rng.integers(0, 255, size, dtype=np.uint8)).save(path)
    return paths


def test_results_carry_their_settings_and_upscale_from_them(tiny_models_dir, tmp_path):
    photo, painting = _inputs(tmp_path)
    chosen = tmp_path / "chosen.png"
    made = nst("stylize", photo, painting, "-o", chosen, "--size", 40, "--iterations", 5, "--style-weight", 3,
               "--quiet", models_dir=tiny_models_dir)
    assert made.returncode == 0, made.stderr
    record = read_settings(chosen)
    assert record["content"] == photo.name and record["styles"] == [painting.name]  # no folders: privacy
    assert record["options"]["style_weight"] == 3 and record["options"]["size"] == 40
    jpeg = tmp_path / "chosen.jpg"
    assert nst("stylize", photo, painting, "-o", jpeg, "--size", 40, "--iterations", 2, "--quiet",
               models_dir=tiny_models_dir).returncode == 0
    assert read_settings(jpeg)["options"]["iterations"] == 2

    big = tmp_path / "big.png"
    result = nst("upscale", chosen, "--size", 160, "-o", big, "--iterations", 3, models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert "upscaling chosen.png to 160 px" in result.stderr and "3 levels" in result.stderr
    assert Image.open(big).size == (160, 120)
    upscaled = read_settings(big)["options"]
    assert upscaled["init"] == chosen.name and upscaled["style_weight"] == 3 and upscaled["scales"] == 3
    small = np.asarray(Image.open(big).resize((40, 30), Image.Resampling.LANCZOS), float)
    assert np.abs(small - np.asarray(Image.open(chosen), float)).mean() < 40  # the chosen picture, grown


def test_upscale_refuses_what_it_cannot_take_further(tiny_models_dir, tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (40, 30)).save(plain)
    one_line_error(nst("upscale", plain, "--size", 80, "-o", tmp_path / "x.png", models_dir=tiny_models_dir),
                    "carries no nst-ort settings")
    one_line_error(nst("upscale", tmp_path / "missing.png", "--size", 80, "-o", tmp_path / "x.png",
                        models_dir=tiny_models_dir), "not found")
    photo, painting = _inputs(tmp_path)
    chosen = tmp_path / "chosen.png"
    assert nst("stylize", photo, painting, "-o", chosen, "--size", 40, "--iterations", 2, "--quiet",
               models_dir=tiny_models_dir).returncode == 0
    one_line_error(nst("upscale", chosen, "--size", 40, "-o", tmp_path / "x.png", models_dir=tiny_models_dir),
                    "not larger")
    one_line_error(nst("upscale", chosen, "--size", 80, "-o", chosen, models_dir=tiny_models_dir),
                    "one of the inputs")
