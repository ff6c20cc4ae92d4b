"""Image files in and out: any mode or orientation in, float RGB arrays, atomic writes out."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_ort.platform.memory import available_bytes, format_bytes

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
CEILING_PIXELS = 2 * PIXEL_LIMIT  # Pillow's own bomb error: no image above it is decoded, whatever the options


def check_image_file(path: Path) -> None:
    """A regular file, or a one-line NstError: missing, a folder, or a device, pipe or socket
    (which would block or never end)."""
    if path.is_dir():
        raise NstError(f"{path} is a folder, not an image")
    if not path.exists():
        raise NstError(f"image not found: {path}")
    if not path.is_file():
        raise NstError(f"{path} is not a regular file (a device, pipe or socket): give an image file")


@contextmanager
def open_image_file(path: Path) -> Iterator[Image.Image]:
    """The image's header (nothing decoded yet), for a regular file Pillow can read; one line
    otherwise. Pillow's own bomb check is left to `check_decodable`, which says what is wrong."""
    path = Path(path)
    check_image_file(path)
    saved_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except UnidentifiedImageError:
        raise NstError(f"{path} is not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise NstError(f"{path} is corrupt or truncated: {error}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved_limit
    with image:
        yield image


def check_decodable(path: Path, size: tuple[int, int], limit: int | None = PIXEL_LIMIT,
                    memory_limit: int | None = None) -> None:
    """The one decode guard: refuse an image of `size` (width, height, as it will be decoded)
    above `limit` pixels (None: the caller shrinks it, so up to CEILING_PIXELS), or whose
    decoding would not fit in the memory free now or in `memory_limit` (--max-memory). A small
    file can declare 30000x30000 pixels: it is refused from its header, in no time."""
    width, height = size
    pixels = width * height
    if pixels > CEILING_PIXELS:
        raise NstError(f"{path} declares {width}x{height} pixels ({pixels / 1e6:.0f} MP): too large, nst-ort decodes "
                       f"at most {CEILING_PIXELS / 1e6:.0f} MP; shrink it first")
    if limit is not None and pixels > limit:
        raise NstError(f"{path} is {width}x{height} ({pixels / 1e6:.0f} MP), above the {limit / 1e6:.0f} MP limit: "
                       f"pass --size to work on a smaller copy")
    needed = pixels * DECODE_BYTES_PER_PIXEL
    limits = [(bound, what) for bound, what in ((available_bytes(), "free now"),
                                                (memory_limit, "allowed by --max-memory")) if bound is not None]
    for bound, what in limits:
        if needed > bound:
            raise NstError(f"{path} declares {width}x{height} pixels: decoding it needs about {format_bytes(needed)}, "
                           f"more than the {format_bytes(bound)} {what}; shrink it first (a JPEG is decoded at "
                           f"reduced size)")


def header_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file as it will be loaded (EXIF rotation applied), from its
    header alone; one-line NstError if it is not an image."""
    with open_image_file(path) as image:
        width, height = image.size
        turned = _orientation(image, path) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
    return (height, width) if turned else (width, height)


def _orientation(image: Image.Image, path: Path) -> int | None:
    """The EXIF orientation from the header, never decoding pixels: Pillow's PNG getexif()
    decodes the whole image to find an eXIf chunk after the pixel data, so a PNG's EXIF is
    read only from the chunks before it."""
    try:
        if image.format != "PNG":
            return image.getexif().get(0x0112)
        exif = Image.Exif()
        if raw := image.info.get("exif"):
            exif.load(raw)
        return exif.get(0x0112)
    except (OSError, SyntaxError, ValueError) as error:
        raise NstError(f"{path} is corrupt or truncated: {error}") from None


def load_image(path: Path, limit: int | None = PIXEL_LIMIT, draft_long_side: int | None = None,
               memory_limit: int | None = None) -> Image.Image:
    """Open any image Pillow reads, upright (EXIF) and RGB; one-line NstError otherwise.

    Every image goes through `check_decodable` before its pixels are decoded (`limit`,
    `memory_limit`: see there). `draft_long_side` lets JPEG decoding shrink huge files on the
    fly when only a smaller size is needed; the guard looks at the size as drafted.
    """
    path = Path(path)
    with open_image_file(path) as image:
        if draft_long_side is not None and image.format == "JPEG":
            image.draft("RGB", fit_long_side(image.size, draft_long_side))
        check_decodable(path, image.size, limit, memory_limit)
        try:
            with warnings.catch_warnings():  # the guard above decided; Pillow's own bomb warning is noise here
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
            return _to_rgb(ImageOps.exif_transpose(image))
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
        with open_image_file(path) as image:
            text = getattr(image, "text", {}).get(SETTINGS_KEY) if image.format == "PNG" else None
            if image.format == "JPEG" and image.info.get("comment"):
                text = json.dumps(json.loads(image.info["comment"]).get(SETTINGS_KEY))
    except (NstError, OSError, ValueError, AttributeError):
        return None
    try:
        settings = json.loads(text) if text else None
    except ValueError:
        return None
    return settings if isinstance(settings, dict) else None
