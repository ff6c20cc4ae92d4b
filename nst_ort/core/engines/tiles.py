"""Tile layouts for exact tiled evaluation: cores that cover the image, halos that make them exact.

A tile owns a core (a rectangle of pixels; the cores partition the image) and reads a
window: the core grown by a halo on every side that is not the image's border. The halo
covers the receptive field of the deepest layer used, so the features of the core's cells
are those of the whole image. Window corners sit on the grid of the deepest pooling
(16 px below block 5), so the tile's pooling windows are the image's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nst_graphs.networks import receptive_field


def layer_stride(layer: str) -> int:
    """Pixels between neighbouring cells of relu<block>_<i>: 2 ** (block - 1)."""
    return 2 ** (int(layer[4]) - 1)


def pooled(length: int, stride: int) -> int:
    """Cells along a side of `length` pixels after the 2x2/2 pools up to `stride` (each floors)."""
    while stride > 1:
        length, stride = length // 2, stride // 2
    return length


def layer_shape(layer: str, height: int, width: int) -> tuple[int, int]:
    """(h, w) of relu<block>_<i> for an image of height x width."""
    stride = layer_stride(layer)
    return pooled(height, stride), pooled(width, stride)


@dataclass(frozen=True)
class Span:
    """One axis of a tile: its core [start, stop) inside its window [window_start, window_stop)."""

    start: int
    stop: int
    window_start: int
    window_stop: int

    def cells(self, stride: int, length: int) -> tuple[slice, slice]:
        """The core's cells at a layer of `stride`: (in the image's grid, in the window's grid)."""
        first = self.start // stride
        last = pooled(length, stride) if self.stop == length else self.stop // stride
        offset = self.window_start // stride
        return slice(first, last), slice(first - offset, last - offset)


@dataclass(frozen=True)
class Tile:
    rows: Span
    cols: Span

    @property
    def window(self) -> tuple[slice, slice]:
        return slice(self.rows.window_start, self.rows.window_stop), slice(self.cols.window_start, self.cols.window_stop)

    @property
    def window_shape(self) -> tuple[int, int]:
        return self.rows.window_stop - self.rows.window_start, self.cols.window_stop - self.cols.window_start

    @property
    def window_pixels(self) -> int:
        height, width = self.window_shape
        return height * width


@dataclass(frozen=True)
class TileLayout:
    height: int
    width: int
    core: int  # core side in pixels (a multiple of grid)
    halo: int
    grid: int
    tiles: tuple[Tile, ...]

    @property
    def largest_window(self) -> int:
        return max(tile.window_pixels for tile in self.tiles)

    @property
    def overhead(self) -> float:
        """Pixels the windows read per pixel of the image (1.0 for one tile)."""
        return sum(tile.window_pixels for tile in self.tiles) / (self.height * self.width)


def halo_and_grid(net: str, layers: tuple[str, ...]) -> tuple[int, int]:
    """The halo (pixels) that makes every used layer's core cells exact, and the pooling grid."""
    grid = max(layer_stride(layer) for layer in layers)
    reach = max((field - stride) // 2 for field, stride in (receptive_field(net, layer) for layer in layers))
    return math.ceil(reach / grid) * grid, grid


def _spans(length: int, core: int, halo: int) -> list[Span]:
    starts = list(range(0, length, core))
    if len(starts) > 1 and length - starts[-1] < core // 2:  # no sliver at the end: the last core grows
        starts.pop()
    stops = starts[1:] + [length]
    return [Span(start, stop, max(0, start - halo), min(length, stop + halo)) for start, stop in zip(starts, stops)]


def tile_layout(height: int, width: int, core: int, net: str, layers: tuple[str, ...]) -> TileLayout:
    """Tiles with cores of about `core` px (rounded down to the pooling grid) covering the image,
    largest windows first: onnxruntime's arena keeps the memory of the first window's run and
    serves every smaller window from it, where smaller-first would add a region per new size."""
    halo, grid = halo_and_grid(net, layers)
    core = max(grid, core // grid * grid)
    tiles = [Tile(rows, cols) for rows in _spans(height, core, halo) for cols in _spans(width, core, halo)]
    tiles = tuple(sorted(tiles, key=lambda tile: -tile.window_pixels))  # stable: row order among equals
    return TileLayout(height, width, core, halo, grid, tiles)
