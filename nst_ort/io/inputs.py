"""Images in, as the API and the jobs take them: paths or PIL images, with the pixel and memory limits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from nst_ort.io.images import PIXEL_LIMIT, load_image
from nst_ort.options.stylize import StylizeOptions


def open_image(value: str | Path | Image.Image, limit: int | None, long_side: int | None,
                memory_limit: int | None = None) -> Image.Image:
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    return load_image(Path(value), limit=limit, draft_long_side=long_side, memory_limit=memory_limit)


def as_list(images) -> list:
    """One image (a path or PIL image) or several, as a list."""
    return [images] if isinstance(images, (str, Path, Image.Image)) else list(images)


def load_inputs(content: str | Path | Image.Image, styles: Sequence[str | Path | Image.Image],
                options: StylizeOptions, explicit_size: bool) -> tuple[Image.Image, list[Image.Image]]:
    """Content and style images, upright RGB. Pillow's pixel limit holds unless a size was
    given explicitly (then huge files are shrunk while decoding)."""
    limit, memory = None if explicit_size else PIXEL_LIMIT, options.max_memory
    content_image = open_image(content, limit, None if options.keep_size else options.size, memory)
    return content_image, [open_image(item, limit, options.size, memory) for item in styles]
