"""Image files in and out: any mode or orientation in, float RGB arrays, atomic writes out."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_ort.memory import available_bytes, format_bytes

PIXEL_LIMIT = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's decompression-bomb guard


def writable_suffixes() -> set[str]:
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for every mode: 16/32-bit gray rescaled, transparency flattened onto white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


DECODE_BYTES_PER_PIXEL = 8  # the decoded file plus its RGB(X) copy, 4 bytes a pixel each at most


def _check_decode_fits(path: Path, size: tuple[int, int], memory_limit: int | None) -> None:
    """Refuse to decode a file whose declared size would not fit in the memory free now (or
    the run's --max-memory): a small file can declare 30000x30000 pixels, and --size only
    shrinks it after decoding."""
    needed = size[0] * size[1] * DECODE_BYTES_PER_PIXEL
    free = available_bytes()
    limits = [(limit, what) for limit, what in ((free, "free now"), (memory_limit, "allowed by --max-memory"))
              if limit is not None]
    for limit, what in limits:
        if needed > limit:
            raise NstError(f"{path} declares {size[0]}x{size[1]} pixels: decoding it needs about "
                           f"{format_bytes(needed)}, more than the {format_bytes(limit)} {what}; shrink it first "
                           f"(a JPEG is decoded at reduced size)")


def _not_a_folder(path: Path) -> None:
    if path.is_dir():
        raise NstError(f"{path} is a folder, not an image")


def header_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as it will be loaded (EXIF rotation applied), from its
    header alone; one-line NstError if it is not an image."""
    _not_a_folder(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            turned = image.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
    except FileNotFoundError:
        raise NstError(f"image not found: {path}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise NstError(f"{path} is not an image file Pillow can read safely") from None
    return (height, width) if turned else (width, height)


def load_image(path: Path, limit: int | None = PIXEL_LIMIT, draft_long_side: int | None = None,
               memory_limit: int | None = None) -> Image.Image:
    """Open any image Pillow reads, upright (EXIF) and RGB; one-line NstError otherwise.

    Images above `limit` pixels are refused (None: no limit), and so are those whose decoding
    would not fit in the memory free or in `memory_limit` bytes. `draft_long_side` lets JPEG
    decoding shrink huge files on the fly when only a smaller size is needed.
    """
    path = Path(path)
    _not_a_folder(path)
    if not path.is_file():
        raise NstError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved_limit
            pixels = image.width * image.height
            if limit is not None and pixels > limit:
                raise NstError(f"{path} is {image.width}x{image.height} ({pixels / 1e6:.0f} MP), above the "
                               f"{limit / 1e6:.0f} MP limit: pass --size to work on a smaller copy")
            if draft_long_side is not None and image.format == "JPEG":
                image.draft("RGB", fit_long_side(image.size, draft_long_side))
            _check_decode_fits(path, image.size, memory_limit)
            image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
    except UnidentifiedImageError:
        raise NstError(f"{path} is not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise NstError(f"{path} is corrupt or truncated: {error}") from None


def fit_long_side(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `long_side`, aspect kept."""
    width, height = size
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_array(image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """(3, H, W) float32 RGB in [0, 1], resized to `size` (width, height) if given."""
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0


def resize_pixels(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a (3, H, W) float array to `size` (width, height), bicubic, kept in [0, 1]."""
    channels = [np.asarray(Image.fromarray(channel).resize(size, Image.Resampling.BICUBIC)) for channel in pixels]
    return np.clip(np.stack(channels), 0.0, 1.0).astype(np.float32)


def to_image(pixels: np.ndarray) -> Image.Image:
    """(3, H, W) array in [0, 1] -> 8-bit RGB image."""
    data = np.clip(pixels.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(data, "RGB")


SETTINGS_KEY = "nst-ort"  # PNG text chunk holding a result's run settings (JSON); JPEG: the comment


def save_image(image: Image.Image, path: Path, settings: dict | None = None) -> None:
    """Write atomically: a temp file in the same folder renamed onto `path`. `settings` (the
    run that made it) go into a PNG text chunk or the JPEG comment, where the format has one."""
    path = Path(path)
    fmt = Image.registered_extensions()[path.suffix.lower()]
    extra = {}
    if settings is not None and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_itxt(SETTINGS_KEY, json.dumps(settings))
        extra["pnginfo"] = info
    elif settings is not None and fmt == "JPEG":
        extra["comment"] = json.dumps({SETTINGS_KEY: settings}).encode()
    with atomic_file(path) as tmp:
        image.save(tmp, format=fmt, **extra)


def read_settings(path: Path) -> dict | None:
    """The run settings a result image carries (save_image), or None."""
    try:
        with Image.open(path) as image:
            text = getattr(image, "text", {}).get(SETTINGS_KEY) if image.format == "PNG" else None
            if image.format == "JPEG" and image.info.get("comment"):
                text = json.dumps(json.loads(image.info["comment"]).get(SETTINGS_KEY))
    except (OSError, ValueError, AttributeError):
        return None
    try:
        settings = json.loads(text) if text else None
    except ValueError:
        return None
    return settings if isinstance(settings, dict) else None
