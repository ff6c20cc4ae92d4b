"""The main job: one content image, one or more style images, one stylised image."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from nst_base.errors import NstError
from nst_base.manifest import Manifest
from nst_base.model_store import ExportedModel
from nst_base.versions import versions
from nst_ort.core.budget import budget_iterations, first_level_seconds, level_cost
from nst_ort.core.colors import match_color_statistics, transfer_luminance
from nst_ort.core.engines.base import Engine
from nst_ort.core.engines.factory import make_engine, resolve_engine
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.engines.tiled import TileCallback, TiledEngine, TiledFeatures
from nst_ort.io.images import fit_long_side, load_image, resize_pixels, to_array, to_image
from nst_ort.io.masks import check_masks, mask_array
from nst_ort.platform.energy import EnergyMeter
from nst_ort.platform.memory import available_bytes, peak_rss_bytes, reset_peak_rss
from nst_ort.core.optimize import OptimizerSettings, Outcome, Progress, ProgressCallback, optimize
from nst_ort.options.stylize import StylizeOptions
from nst_ort.core.memory_plan import PlanRequest, RunPlan, plan_run
from nst_ort.core.checkpoint import Checkpoint, CheckpointSink
from nst_ort.options.schedule import Level
from nst_ort.core.targets import LossWeights, loss_inputs

BUDGET_SHARE = 0.95  # of --time-budget planned for the levels' iterations (targets and writing take the rest)


@dataclass
class StylizeResult:
    image: Image.Image
    outcome: Outcome
    report: dict = field(default_factory=dict)


def initial_pixels(options: StylizeOptions, content: np.ndarray) -> np.ndarray:
    """The starting image at the first level, seeded."""
    rng = np.random.default_rng(options.seed)
    if options.init == "content":
        start = content.copy()
    elif options.init == "noise":
        start = rng.uniform(0, 1, content.shape).astype(np.float32)
    elif options.init == "gray":
        start = np.full_like(content, 0.5)
    else:
        height, width = content.shape[1:]
        start = to_array(load_image(Path(options.init)), (width, height))
    if options.init_noise > 0:
        start = start + rng.uniform(-options.init_noise, options.init_noise, start.shape).astype(np.float32)
    return np.clip(start, 0.0, 1.0)


def blend_shares(options: StylizeOptions, count: int, masked: bool) -> tuple[float, ...]:
    """Each style's share of the Gram target (summing to 1); with masks, each region's weight (default 1)."""
    shares = options.style_blend or (1.0,) * count
    if len(shares) != count or any(s < 0 for s in shares) or sum(shares) <= 0:
        raise NstError(f"--style-blend needs {count} non-negative numbers with a positive sum, got {shares}")
    if masked:
        return tuple(shares)
    top = max(shares)  # scaled to at most 1 first, so the sum cannot overflow
    total = sum(s / top for s in shares)
    return tuple(s / top / total for s in shares)


def _check_layers(options: StylizeOptions, model: ExportedModel) -> None:
    for name, _ in options.content_layers + options.style_layers:
        if name not in model.layers:
            raise NstError(f"layer {name!r} is not in {model.manifest.net}; choose from {', '.join(model.layers)}")


def _min_side(options: StylizeOptions) -> int:
    """Smallest image side for which the deepest layer used is at least 1 pixel."""
    deepest_block = max(int(name[4]) for name, _ in options.content_layers + options.style_layers)
    return 2 ** (deepest_block - 1)


def _feasible_levels(content_size: tuple[int, int], options: StylizeOptions) -> tuple[list[Level], list[tuple[int, int]]]:
    """The schedule's levels and their (width, height), dropping coarse levels too small for the net."""
    levels = options.schedule()
    sizes = [fit_long_side(content_size, level.long_side) for level in levels]
    need = _min_side(options)
    if min(sizes[-1]) < need:
        raise NstError(f"the working image would be {sizes[-1][0]}x{sizes[-1][1]}: layers down to block "
                       f"{need.bit_length()} need both sides >= {need} px; raise --size")
    kept = [(level, size) for level, size in zip(levels, sizes) if min(size) >= need]
    return [level for level, _ in kept], [size for _, size in kept]


def _level_callback(on_progress: ProgressCallback | None, iterations: list[int], index: int, costs: list[float],
                    level_deadline: float | None, planned_end: float | None,
                    run_seconds: Callable[[], float]) -> ProgressCallback | None:
    """Adds the level and an ETA that counts the levels still to come (at this level's pace).
    With a time budget: this level's iterations that still fit its share (none may overrun
    it), and the later levels never past the budget's planned end (the share of it the levels'
    iterations get), where the run's last level stops."""
    if on_progress is None:
        return None

    def report(progress: Progress, pixels: np.ndarray) -> None:
        now, pace = time.perf_counter(), progress.seconds_per_iteration
        later = pace * sum(count * costs[k] / costs[index] for k, count in enumerate(iterations) if k > index)
        if level_deadline is not None and planned_end is not None and pace > 0:
            fit = min(progress.iterations - progress.iteration, int(max(0.0, level_deadline - now) // pace))
            progress = replace(progress, iterations=progress.iteration + fit)
            later = min(later, max(0.0, planned_end - now - fit * pace))
        on_progress(replace(progress, level=index + 1, levels=len(iterations), later_levels_seconds=later,
                            run_seconds=run_seconds()), pixels)

    return report


def _measured_pace(history: Sequence[Progress], costs: list[float]) -> float | None:
    """Seconds per unit of level cost at the last level run so far (a resumed run's history)."""
    if not history or not history[-1].seconds_per_iteration:
        return None
    return history[-1].seconds_per_iteration / costs[history[-1].level - 1]


def style_arrays(styles: list[Image.Image], long_side: int, options: StylizeOptions,
                  content: np.ndarray) -> list[np.ndarray]:
    """The style images at this level: `style_scale` x the working size, where a working size
    above a painting's own counts as the painting's own unless `style_upscale` (an enlarged
    painting has blurred strokes and no fine texture to give a print; its own pixels keep the
    strokes sharp, and smaller). An explicit `style_scale` above 1 still enlarges."""
    def side(style: Image.Image) -> int:
        reference = long_side if options.style_upscale else min(long_side, max(style.size))
        return max(16, round(reference * options.style_scale))

    arrays = [to_array(style, fit_long_side(style.size, side(style))) for style in styles]
    if options.preserve_colors == "histogram":  # the style takes the content's colour statistics
        arrays = [match_color_statistics(array, content) for array in arrays]
    return arrays


@dataclass(frozen=True)
class StylizePlan:
    """A run's levels, their sizes and memory plans (nst_ort/core/memory_plan.py), made once before any work
    against one limit: the memory free when the run starts (or --max-memory)."""

    content_size: tuple[int, int]
    levels: list[Level]
    sizes: list[tuple[int, int]]
    plans: list[RunPlan]

    def costs(self) -> list[float]:
        return [level_cost(plan) for plan in self.plans]


def plan_stylize(content_size: tuple[int, int], options: StylizeOptions, manifest: Manifest, styles: int = 1,
                 regions: int = 0) -> StylizePlan:
    """The plan of a run on a content of `content_size`; one line if it cannot fit. The final
    level is planned first: its refusal is the one to show."""
    levels, sizes = _feasible_levels(content_size, options)
    limit = options.max_memory if options.max_memory is not None else available_bytes()
    layers = tuple(dict.fromkeys(name for name, _ in options.content_layers + options.style_layers))
    content_layers = tuple(name for name, _ in options.content_layers)
    plans = [plan_run(PlanRequest(width, height, resolve_engine(options.engine), options.optimizer, manifest.net,
                                  layers, content_layers, manifest.layers, regions, styles, options.tile, limit,
                                  options.conv))
             for width, height in reversed(sizes)]
    return StylizePlan(tuple(content_size), levels, sizes, plans[::-1])


def level_engine(model: ExportedModel, options: StylizeOptions, plan: RunPlan, extractor: FeatureExtractor,
                  content: np.ndarray, styles: list[np.ndarray], blend: tuple[float, ...], masks: list[np.ndarray],
                  long_side: int, on_tile: TileCallback | None = None) -> Engine:
    """Targets and the engine of one level: untiled, or tiled as the plan says.

    The arena's free memory goes back to the system before the targets (what the last level
    held) and after them, so the engine's first run, its largest, starts from an empty arena
    and the level's peak is its own."""
    weights = LossWeights.of(options, long_side)
    extractor.release_unused_memory()
    features = extractor if plan.layout is None else TiledFeatures(extractor, model.manifest.net, plan.layout.core)
    inputs = loss_inputs(features, content, styles, blend, weights, masks)
    extractor.release_unused_memory()
    if plan.layout is None:
        return make_engine(options.engine, model, inputs, content.shape[1:], options.threads, options.provider,
                           plan.conv)
    return TiledEngine(model, inputs, plan.layout, options.threads, on_tile, conv=plan.conv)


def stylize(content: Image.Image, styles: list[Image.Image], model: ExportedModel,
            options: StylizeOptions = StylizeOptions(), *, on_progress: ProgressCallback | None = None,
            masks: Sequence[Image.Image] = (), checkpoints: CheckpointSink | None = None,
            resume: Checkpoint | None = None, notify: Callable[[str], None] | None = None,
            plan: StylizePlan | None = None) -> StylizeResult:
    """Optimise the pixels of `content` toward the style of `styles`, coarse to fine.

    With `masks` (one grayscale image per style, see nst_ort/io/masks.py) each style applies
    only to its own region of the content. `checkpoints` keeps the run's state on disk as it
    goes (nst_ort/jobs/run_folder.py); `resume` continues from such a state exactly. `plan` is the
    run's plan made beforehand from the options (validated then) and the content's size;
    without it (or for another size) the options are validated and the plan made here,
    before any work, and told to `notify`.
    """
    if not styles:
        raise NstError("at least one style image is needed")
    if masks:
        check_masks(list(masks), len(styles))
    _check_layers(options, model)
    if plan is None or plan.content_size != tuple(content.size):
        options.validate()
        plan = plan_stylize(content.size, options, model.manifest, len(styles), len(masks))  # refuses at once
    if notify is not None:
        notify(f"plan: {plan.plans[-1].describe()}")
    if resume is not None and resume.level >= len(plan.levels):
        raise NstError(f"the checkpoint is at level {resume.level + 1} of a run with {len(plan.levels)} levels: "
                       f"cannot resume")
    run = LevelLoop(content, styles, list(masks), model, options, plan, on_progress, checkpoints, resume)
    pixels, loss = run.run()
    final = pixels
    if options.preserve_colors == "luminance":
        final = transfer_luminance(pixels, to_array(content, (pixels.shape[2], pixels.shape[1])))
    image = to_image(final)
    final_size = content.size if options.keep_size else plan.sizes[-1]
    if image.size != final_size:
        image = image.resize(final_size, Image.Resampling.LANCZOS)
    outcome = Outcome(pixels, loss, run.history, run.evaluations, run.interrupted)
    return StylizeResult(image, outcome, run_report(options, model, plan, run, loss, len(masks), checkpoints))


class LevelLoop:
    """The levels of one run, in order: each set up (targets, engine, start), optimised within
    its share of any time budget, checkpointed; a stop signal ends the loop with the best so far."""

    def __init__(self, content: Image.Image, styles: list[Image.Image], masks: list[Image.Image],
                 model: ExportedModel, options: StylizeOptions, plan: StylizePlan,
                 on_progress: ProgressCallback | None, checkpoints: CheckpointSink | None,
                 resume: Checkpoint | None) -> None:
        self.content, self.styles, self.masks, self.model, self.options = content, styles, masks, model, options
        self.plan, self.on_progress, self.checkpoints = plan, on_progress, checkpoints
        self.position = resume or Checkpoint(level=0, start=None, snapshot=None, history=(), evaluations=0, seconds=0.0)
        self.blend = blend_shares(options, len(styles), masked=bool(masks))
        self.costs = plan.costs()
        self.iterations = [level.iterations for level in plan.levels]
        self.history: list[Progress] = list(self.position.history)
        self.evaluations, self.interrupted = self.position.evaluations, False
        self.seconds_per_cost: float | None = None
        self.peaks: dict[int, int | None] = {}  # per level, where the platform can start a new peak
        self.earlier_peak = 0  # the peak before each level (re)starts counting
        self.started = time.perf_counter()
        snapshot = self.position.snapshot
        self.earlier_sessions = self.position.seconds + (snapshot.elapsed if snapshot else 0.0)
        self.extractor: FeatureExtractor | None = None
        self.meter = EnergyMeter(self.position.energy)

    def seconds(self) -> float:
        """The run's time so far, over every session."""
        return self.earlier_sessions + time.perf_counter() - self.started

    def run(self) -> tuple[np.ndarray, float]:
        """The best pixels and their loss, after the last level or at a stop."""
        self.extractor = FeatureExtractor(str(self.model.features_path), self.options.threads)
        pixels, loss, engine = self.position.start, float("inf"), None
        for index in range(self.position.level, len(self.plan.levels)):
            engine = None  # the last level's session goes before this one's is built: its memory is not this level's
            self.earlier_peak = max(self.earlier_peak, peak_rss_bytes() or 0)
            level_peak_known = reset_peak_rss()
            width, height = self.plan.sizes[index]
            try:  # targets take minutes at print size: a stop signal here keeps what the run has
                engine, start = self.set_up(index, pixels)
            except KeyboardInterrupt:
                self.interrupted = True
                self._flush()
                pixels = pixels if pixels is not None else to_array(self.content, (width, height))
                break
            outcome = self.optimise(index, engine, start, pixels)
            if level_peak_known:
                self.peaks[index] = peak_rss_bytes()
            if outcome.history:
                self.seconds_per_cost = outcome.history[-1].seconds_per_iteration / self.costs[index]
            pixels, loss = outcome.image, outcome.loss
            levels = len(self.plan.levels)
            self.history += [replace(p, level=index + 1, levels=levels) for p in outcome.history]
            self.evaluations += outcome.evaluations
            if outcome.interrupted:
                self.interrupted = True
                self._flush()
                break
        return pixels, loss

    def set_up(self, index: int, pixels: np.ndarray | None) -> tuple[Engine, np.ndarray]:
        """One level's targets and engine, and its start: the seeded start at the first level, the
        last level's best image resized after it."""
        level, (width, height) = self.plan.levels[index], self.plan.sizes[index]
        content_pixels = to_array(self.content, (width, height))
        engine = level_engine(self.model, self.options, self.plan.plans[index], self.extractor, content_pixels,
                              style_arrays(self.styles, level.long_side, self.options, content_pixels), self.blend,
                              [mask_array(mask, (width, height)) for mask in self.masks], level.long_side,
                              getattr(self.on_progress, "tile", None))  # a reporter may show tiles in evaluations
        start = (initial_pixels(self.options, content_pixels) if pixels is None
                 else resize_pixels(pixels, (width, height)))
        return engine, start

    def optimise(self, index: int, engine: Engine, start: np.ndarray, pixels: np.ndarray | None) -> Outcome:
        """One level's iterations: a resumed level goes on from its snapshot with the iterations
        it was given; with a time budget, this level's share of it."""
        position, options = self.position, self.options
        level_start = Checkpoint(index, pixels, None, tuple(self.history), self.evaluations,
                                 position.seconds if index == position.level else self.seconds(),
                                 position.energy if index == position.level else self.meter.so_far())
        snapshot = position.snapshot if index == position.level else None
        done = len(snapshot.history) if snapshot is not None else 0
        if snapshot is not None and snapshot.history:  # a resumed level keeps the iterations it was given
            self.iterations[index] = snapshot.history[-1].iterations
        level_deadline = planned_end = None
        if options.time_budget is not None:
            level_deadline, planned_end = self._budget(index, done)
        on_snapshot = None
        if self.checkpoints is not None:
            self.checkpoints.update(replace(level_start, snapshot=snapshot))
            on_snapshot = lambda snap, at=level_start: self.checkpoints.update(  # noqa: E731
                replace(at, snapshot=snap, energy=self.meter.so_far()))
        settings = replace(OptimizerSettings.of(options, self.iterations[index]), history=self.plan.plans[index].history)
        progress = _level_callback(self.on_progress, self.iterations, index, self.costs, level_deadline, planned_end,
                                   self.seconds)

        def each_iteration(report: Progress, pixels: np.ndarray) -> None:
            self.meter.sample()  # often enough that an energy counter cannot wrap twice unseen
            if progress is not None:
                progress(report, pixels)

        return optimize(engine, start, settings, each_iteration, on_snapshot, snapshot, level_deadline)

    def _budget(self, index: int, done: int) -> tuple[float, float]:
        """This level's iterations and deadline within the time budget, and the planned end of
        the levels' share of it (time.perf_counter seconds)."""
        options, levels, costs = self.options, self.plan.levels, self.costs
        self.seconds_per_cost = self.seconds_per_cost or _measured_pace(self.history, costs)
        left = BUDGET_SHARE * options.time_budget - self.seconds()
        wanted = [self.iterations[index] - done if done else levels[index].iterations,
                  *(level.iterations for level in levels[index + 1:])]
        planned = budget_iterations(left, wanted, costs[index:], self.seconds_per_cost)
        self.iterations[index:] = [self.iterations[index] if done else planned[0], *planned[1:]]
        now = time.perf_counter()
        deadline, planned_end = now + options.time_budget - self.seconds(), now + left
        level_deadline = min(deadline, now + first_level_seconds(left, wanted, costs[index:], self.seconds_per_cost))
        return level_deadline, planned_end

    def _flush(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.flush()

    def peak(self) -> int | None:
        return max([self.earlier_peak, peak_rss_bytes() or 0, *(peak or 0 for peak in self.peaks.values())]) or None


def run_report(options: StylizeOptions, model: ExportedModel, plan: StylizePlan, run: LevelLoop, loss: float,
               masks: int, checkpoints: CheckpointSink | None) -> dict:
    """What a run did: settings, model, versions, each level's plan and peak, every iteration."""
    report = {
        "settings": asdict(options),
        "masks": masks,
        "model": {"folder": str(model.folder), "net": model.manifest.net, "pool": model.manifest.pool,
                  "source": model.manifest.source, "source_sha256": model.manifest.source_sha256},
        "versions": versions(),
        "levels": [{"long_side": level.long_side, "size": list(size), "iterations": level.iterations,
                    "plan": level_plan.describe(), "history": level_plan.history,
                    "estimated_peak_bytes": level_plan.estimate,
                    "peak_rss_bytes": run.peaks.get(index)}
                   for index, (level, size, level_plan) in enumerate(zip(plan.levels, plan.sizes, plan.plans))],
        "total_seconds": run.seconds(),
        "evaluations": run.evaluations,
        "interrupted": run.interrupted,
        "final_loss": loss,
        "iterations": [{"level": p.level, "iteration": p.iteration, "loss": p.loss, "terms": p.terms,
                        "evaluations": p.evaluations, "seconds": p.elapsed} for p in run.history],
        "peak_rss_bytes": run.peak(),
        "energy": run.meter.energy().as_dict(),
    }
    if checkpoints is not None:
        report["checkpoints"] = checkpoints.summary()
    return report
