"""What a run will take before it starts: its plan (levels, tiles, iterations, memory), and
its time and energy (`--dry-run`, the studio's estimate before Start).

The time is the reference pace (budget.first_guess_seconds_per_pixel: an iteration at 533x400
took 0.95 s at 2 threads on a 2-core machine with the default convolutions) times each
level's cost, scaled to the threads by Amdahl's law with PARALLEL_SHARE; the energy is that
time on that many busy cores (platform/energy.py's estimate). A rough figure: a faster or
slower machine differs by its speed, which `nst bench` measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from nst_base.manifest import Manifest
from nst_graphs.networks import conv_layers
from nst_ort.core.budget import first_guess_seconds_per_pixel
from nst_ort.core.levels import StylizePlan, plan_stylize
from nst_ort.options.clock import format_seconds
from nst_ort.options.stylize import StylizeOptions
from nst_ort.platform.energy import describe_wh, estimate_wh
from nst_ort.platform.memory import format_bytes
from nst_ort.platform.sessions import resolved_threads

REFERENCE_THREADS = 2
PARALLEL_SHARE = 0.8  # of a run's time that spreads over the threads: 2 threads took 196 s, 1 thread 325 s (docs/energy.md)
HOURS_WARNING = 3600.0  # above this the estimate says the run takes hours


def speedup(threads: int) -> float:
    return 1 / ((1 - PARALLEL_SHARE) + PARALLEL_SHARE / threads)


@dataclass(frozen=True)
class RunEstimate:
    """A run's plan with its time and energy, before any work."""

    plan: StylizePlan
    level_seconds: list[float]
    threads: int
    time_budget: float | None = None

    @property
    def seconds(self) -> float:
        total = sum(self.level_seconds)
        return min(total, self.time_budget) if self.time_budget is not None else total

    @property
    def wh(self) -> float:
        return estimate_wh(self.seconds, self.threads)

    @property
    def peak_bytes(self) -> int:
        return max(plan.estimate for plan in self.plan.plans)

    def summary(self) -> str:
        """`about 4m10s and 0.9 Wh (estimated) on 2 threads, at most 1.2 GB`, with a warning for hours."""
        warning = "; this takes hours: try a smaller size or --time-budget" if self.seconds > HOURS_WARNING else ""
        return (f"about {format_seconds(self.seconds)} and {describe_wh(self.wh)} on {self.threads} "
                f"thread{'s' if self.threads > 1 else ''}, at most {format_bytes(self.peak_bytes)} of memory{warning}")

    def lines(self) -> list[str]:
        """The plan level by level, then the summary."""
        rows = [f"level {index}/{len(self.level_seconds)}: {plan.describe()}, {level.iterations} iterations, "
                f"about {format_seconds(seconds)}"
                for index, (level, plan, seconds) in enumerate(zip(self.plan.levels, self.plan.plans,
                                                                   self.level_seconds), 1)]
        return rows + [self.summary()]

    def as_dict(self) -> dict:
        return {"seconds": self.seconds, "wh": self.wh, "threads": self.threads, "peak_bytes": self.peak_bytes,
                "levels": [{"size": list(size), "iterations": level.iterations, "plan": plan.describe(),
                            "seconds": seconds} for level, size, plan, seconds
                           in zip(self.plan.levels, self.plan.sizes, self.plan.plans, self.level_seconds)],
                "summary": self.summary()}


def standing_manifest(net: str, pool: str) -> Manifest:
    """What a model's manifest says about its layers, for a network not exported yet (a dry run
    exports nothing)."""
    layers = {layer.relu: layer.out_channels for layer in conv_layers(net)}
    return Manifest(net, pool, source="not exported", source_sha256="", preprocessing={}, layers=layers, files={})


def estimate_run(content_size: tuple[int, int], options: StylizeOptions, manifest: Manifest | None = None,
                 styles: int = 1, regions: int = 0) -> RunEstimate:
    """The estimate of a run on a content of `content_size` (one line if it cannot fit)."""
    manifest = manifest or standing_manifest(options.net, options.pool)
    plan = plan_stylize(content_size, options, manifest, styles, regions)
    threads = resolved_threads(options.threads)
    threads_pace = speedup(REFERENCE_THREADS) / speedup(threads)
    seconds = [level.iterations * cost * first_guess_seconds_per_pixel(level_plan.conv) * threads_pace
               for level, cost, level_plan in zip(plan.levels, plan.costs(), plan.plans)]
    return RunEstimate(plan, seconds, threads, options.time_budget)
