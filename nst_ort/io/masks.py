"""Spatial style masks: which part of the content takes which style.

A mask is a grayscale image the size of the content (any size: it is resized with it);
white is "this style here", black "not here", grays blend. One mask per style image.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from nst_base.errors import NstError


def mask_array(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 in [0, 1] at `size` (width, height): the luminance of `image`."""
    gray = image.convert("L")
    if gray.size != size:
        gray = gray.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float32) / 255.0


def check_masks(masks: list[Image.Image], styles: int) -> None:
    """One non-empty mask per style, or a one-line NstError."""
    if len(masks) != styles:
        raise NstError(f"give one --mask per style: {styles} style(s), {len(masks)} mask(s)")
    for index, mask in enumerate(masks, start=1):
        if not np.asarray(mask.convert("L")).any():
            raise NstError(f"mask {index} is all black: its style would apply nowhere")


def downsample_to(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`mask` (H, W) averaged over 2x2 blocks (odd edges dropped) until it is `shape` (h, w):
    the same grid the network's 2x2 stride-2 pooling gives its features."""
    while mask.shape != tuple(shape):
        height, width = mask.shape
        if height < 2 * shape[0] or width < 2 * shape[1]:
            raise ValueError(f"a {height}x{width} mask does not pool down to {shape[0]}x{shape[1]}")
        blocks = mask[:height // 2 * 2, :width // 2 * 2].reshape(height // 2, 2, width // 2, 2)
        mask = blocks.mean(axis=(1, 3))
    return mask
