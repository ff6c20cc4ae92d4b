"""Time: the relative cost of each level's evaluations, and iterations that fit a time budget.

An evaluation costs about its pixels: the whole image untiled; tiled, the pixels its tiles'
windows read (halos included) times TILED_FACTOR, as the tiled engine runs an extra forward
pass for the Grams. With `--time-budget`, each level's iterations are planned when it
starts, from the time left and the seconds per unit of cost measured so far, so that the
remaining levels together end within the budget (never more than their default iterations,
never fewer than MIN_ITERATIONS). The time is shared by water-filling: cheap coarse levels,
which decide the layout, keep their default iterations; the levels that would not fit get
equal time each, so at print size the top level refines what the levels below built.
"""

from __future__ import annotations

from nst_ort.core.memory_plan import RunPlan

TILED_FACTOR = 1.5  # forward (Grams) + forward and backward (gradient), against forward and backward
MIN_ITERATIONS = 5
# seconds per pixel of one iteration before anything was measured (the default run's first
# level is 128 px: a poor guess costs little there): the default run's 533x400 level took
# 0.93 s per evaluation and 1.01 evaluations per iteration at 2 threads here (--conv auto)
FIRST_GUESS_SECONDS_PER_PIXEL = 0.95 / (533 * 400)
CONV_PACE = {"direct": 1.2, "winograd": 1.1}  # the other forms' evaluations against auto's (docs/engines.md)


def first_guess_seconds_per_pixel(conv: str) -> float:
    """FIRST_GUESS_SECONDS_PER_PIXEL for a run whose 3x3 convolutions are `conv`."""
    return FIRST_GUESS_SECONDS_PER_PIXEL * CONV_PACE.get(conv, 1.0)


def _wanted_seconds(defaults: list[int], costs: list[float], seconds_per_cost: float | None) -> tuple[float, list[float]]:
    """The seconds per unit of cost used (measured, or the first guess) and each level's default time."""
    rate = seconds_per_cost if seconds_per_cost else FIRST_GUESS_SECONDS_PER_PIXEL
    return rate, [rate * count * cost for count, cost in zip(defaults, costs)]


def level_cost(plan: RunPlan) -> float:
    """Relative cost of one evaluation at this level (pixels, tiling included)."""
    pixels = plan.width * plan.height
    return pixels if plan.layout is None else pixels * plan.layout.overhead * TILED_FACTOR


def budget_iterations(remaining_seconds: float, defaults: list[int], costs: list[float],
                      seconds_per_cost: float | None) -> list[int]:
    """Iterations for the levels still to run (first: the one starting now) within `remaining_seconds`."""
    rate, wanted = _wanted_seconds(defaults, costs, seconds_per_cost)
    cap = time_cap(wanted, max(0.0, remaining_seconds))
    return [count if seconds <= cap else max(MIN_ITERATIONS, int(cap / (rate * cost)))
            for count, cost, seconds in zip(defaults, costs, wanted)]


def first_level_seconds(remaining_seconds: float, defaults: list[int], costs: list[float],
                        seconds_per_cost: float | None) -> float:
    """The time the level starting now may take: its share of `remaining_seconds` by the same
    water-filling. The level stops there whatever its measured pace (a tiled level runs slower
    than the levels below predicted), so the levels after it keep their share."""
    _, wanted = _wanted_seconds(defaults, costs, seconds_per_cost)
    return min(wanted[0], time_cap(wanted, max(0.0, remaining_seconds)))


def time_cap(wanted: list[float], available: float) -> float:
    """The largest T with sum(min(w, T)) <= available (infinite when everything fits)."""
    spent, ordered = 0.0, sorted(wanted)
    for index, seconds in enumerate(ordered):
        left = len(ordered) - index
        if spent + seconds * left > available:
            return (available - spent) / left
        spent += seconds
    return float("inf")
