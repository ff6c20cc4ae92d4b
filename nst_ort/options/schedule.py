"""Coarse-to-fine: the list of working sizes a run goes through."""

from __future__ import annotations

import math
from dataclasses import dataclass

COARSEST_SIDE = 128  # long side of the first level when scales are automatic
# levels longer than this get fewer default iterations: each doubling costs 4x per iteration and
# starts from the level below's finished picture (measured on the print run, docs/bench/print_6000.json:
# a 1500 px level's first 50 of 100 iterations made 96% of its loss decrease)
DETAIL_SIDE = 1024


@dataclass(frozen=True)
class Level:
    long_side: int
    iterations: int


def auto_levels(long_side: int) -> int:
    """Levels so the first one starts near COARSEST_SIDE at every size.

    The layout is settled at the coarse levels, so the same start keeps the same picture
    across sizes: a 1024 px run passes through the 512 px run's result (its levels 128, 256,
    512 are that run's), and a 256 px run is the first two levels of a 512 px one.
    """
    if long_side < 2 * COARSEST_SIDE:
        return 1
    return 1 + int(math.log2(long_side / COARSEST_SIDE))


def tapered(iterations: int, long_side: int) -> int:
    """`iterations` up to DETAIL_SIDE px, then halved per doubling: 50 at 2048 px, 17 of 100 at 6000."""
    return max(1, round(iterations * min(1.0, DETAIL_SIDE / long_side)))


def scale_schedule(long_side: int, iterations: int, levels: int, coarse_iterations: int | None = None,
                   taper: bool = False) -> list[Level]:
    """Levels from coarse to fine, each twice the previous size, ending at `long_side`.

    The final level runs `iterations`; the coarse ones `coarse_iterations` each (default:
    the same; they cost 1/4, 1/16 ... as much per iteration). With `taper`, the levels that
    run `iterations` get tapered(iterations, side) instead: the default schedule, where a
    print's top levels refine what the cheap levels below built.
    """
    def default(side: int) -> int:
        return tapered(iterations, side) if taper else iterations

    sides = [max(16, round(long_side / 2 ** k)) for k in reversed(range(max(1, levels)))]
    return [Level(side, default(side) if coarse_iterations is None else coarse_iterations) for side in sides[:-1]] + \
        [Level(sides[-1], default(sides[-1]))]
