"""The bundled demo: a photo that ships inside a PyPI wheel and a painting made here."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
from PIL import Image

from nst_base.errors import NstError
from nst_ort.io.images import save_image

PHOTO_DISTRIBUTION = "scikit-image"
PHOTO_FILE = "skimage/data/chelsea.png"  # a cat photo bundled in scikit-image's wheel
PALETTE = np.array([[12, 26, 68], [28, 64, 140], [70, 120, 190], [150, 190, 220], [240, 210, 90], [250, 240, 190]],
                   dtype=np.float64) / 255.0


def demo_photo() -> Image.Image:
    """scikit-image's bundled 'chelsea' photograph, read from its wheel (not imported)."""
    try:
        dist = importlib.metadata.distribution(PHOTO_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise NstError("the demo photo comes with scikit-image: pip install 'nst-ort[demo]'") from None
    for file in dist.files or ():
        if str(file).replace("\\", "/") == PHOTO_FILE:
            return Image.open(dist.locate_file(file)).convert("RGB")
    raise NstError(f"{PHOTO_FILE} is missing from scikit-image: reinstall it")


def swirl_painting(width: int = 512, height: int = 384, seed: int = 0, steps: int = 24) -> Image.Image:
    """A night-sky swirl 'painting': noise smeared along a field of vortices, in blues and yellows.

    Line-integral convolution: each pixel averages white noise along the local flow, which
    looks like brush strokes following the swirls.
    """
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    vx, vy = np.zeros_like(xs), np.zeros_like(ys)
    for _ in range(7):  # vortices of random position, size and spin
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius, spin = rng.uniform(0.1, 0.35) * width, rng.choice([-1.0, 1.0])
        dx, dy = xs - cx, ys - cy
        falloff = np.exp(-(dx ** 2 + dy ** 2) / (2 * radius ** 2))
        vx, vy = vx - spin * dy / radius * falloff, vy + spin * dx / radius * falloff
    vx += 0.3  # a gentle wind so no region is still
    speed = np.hypot(vx, vy) + 1e-9
    vx, vy = vx / speed, vy / speed
    noise = rng.random((height // 3 + 1, width // 3 + 1)).repeat(3, 0).repeat(3, 1)[:height, :width]
    total = np.zeros_like(xs)
    for direction in (1.0, -1.0):
        px, py = xs.copy(), ys.copy()
        for _ in range(steps):
            ix, iy = np.clip(px, 0, width - 1).astype(int), np.clip(py, 0, height - 1).astype(int)
            total += noise[iy, ix]
            px += direction * vx[iy, ix]
            py += direction * vy[iy, ix]
    strokes = (total / (2 * steps) - 0.5) * 3.0
    tone = np.clip(0.35 + strokes + 0.35 * np.sin(xs / width * 5 + ys / height * 3) * (speed > 0.5), 0, 0.999)
    position = tone * (len(PALETTE) - 1)
    low = position.astype(int)
    mix = (position - low)[..., None]
    rgb = PALETTE[low] * (1 - mix) + PALETTE[low + 1] * mix
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")


def write_demo_inputs(folder: Path) -> tuple[Path, Path]:
    """Write demo content and style images into `folder` (kept if already there)."""
    content, style = folder / "demo_content.png", folder / "demo_style.png"
    if not content.is_file():
        save_image(demo_photo(), content)
    if not style.is_file():
        save_image(swirl_painting(), style)
    return content, style
