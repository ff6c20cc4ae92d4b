"""Coarse-to-fine: the list of working sizes a run goes through."""

from __future__ import annotations

import math
from dataclasses import dataclass

COARSEST_SIDE = 128  # long side of the first level when scales are automatic
MAX_AUTO_LEVELS = 3


@dataclass(frozen=True)
class Level:
    long_side: int
    iterations: int


def auto_levels(long_side: int) -> int:
    """Levels so the first one starts near COARSEST_SIDE (a quarter of 512), at most 3."""
    if long_side < 2 * COARSEST_SIDE:
        return 1
    return min(MAX_AUTO_LEVELS, 1 + int(math.log2(long_side / COARSEST_SIDE)))


def scale_schedule(long_side: int, iterations: int, levels: int, coarse_iterations: int | None = None) -> list[Level]:
    """Levels from coarse to fine, each twice the previous size, ending at `long_side`.

    The final level runs `iterations`; the coarse ones `coarse_iterations` each (default:
    the same; they cost 1/4, 1/16 ... as much per iteration).
    """
    coarse = iterations if coarse_iterations is None else coarse_iterations
    sides = [max(16, round(long_side / 2 ** k)) for k in reversed(range(max(1, levels)))]
    return [Level(side, coarse) for side in sides[:-1]] + [Level(sides[-1], iterations)]
