"""The main job: one content image, one or more style images, one stylised image."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from export.loss_graph import LossLayers
from export.networks import NETS, relu_names
from nst_base.errors import NstError
from nst_base.manifest import Manifest
from nst_base.model_store import ExportedModel
from nst_base.versions import versions
from nst_ort.budget import budget_iterations, first_level_seconds, level_cost
from nst_ort.colors import COLOR_MODES, match_color_statistics, transfer_luminance
from nst_ort.engines.base import Engine
from nst_ort.engines.factory import make_engine, resolve_engine
from nst_ort.engines.tiled import TileCallback, TiledEngine, TiledFeatures
from nst_ort.images import fit_long_side, load_image, resize_pixels, to_array, to_image
from nst_ort.masks import check_masks, mask_array
from nst_ort.memory import available_bytes, format_bytes, peak_rss_bytes, reset_peak_rss
from nst_ort.optimize import OptimizerSettings, Outcome, Progress, ProgressCallback, optimize
from nst_ort.plan import PlanRequest, RunPlan, plan_run
from nst_ort.runstate import Checkpoint, Checkpointer
from nst_ort.schedule import Level, auto_levels, scale_schedule, tapered
from nst_ort.targets import CONVENTIONS, FeatureExtractor, LossWeights, loss_inputs

GATYS_CONTENT_LAYERS = (("relu4_2", 1.0),)
GATYS_STYLE_LAYERS = tuple((name, 1.0) for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
DEFAULT_LOSS_LAYERS = LossLayers(tuple(name for name, _ in GATYS_CONTENT_LAYERS),
                                 tuple(name for name, _ in GATYS_STYLE_LAYERS))
INITS = ("content", "noise", "gray")
BUDGET_SHARE = 0.95  # of --time-budget planned for the levels' iterations (targets and writing take the rest)
REFERENCE_SIDE = 512  # the working size at which --style-weight is the graph's style weight
DEFAULT_ITERATIONS = 100  # per level at REFERENCE_SIDE and above
MAX_WEIGHT = 1e6  # above this a loss term overflows float32 (1e308 gave an infinite loss)
MIN_MEMORY = 64 * 2**20  # the smallest --max-memory: the network's weights alone take about this much
Layers = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class StylizeOptions:
    """Every setting of a run; the defaults are the product's defaults (recipe "gatys")."""

    size: int = 512  # long side of the working image, pixels
    iterations: int | None = None  # at the final size (and at each coarse level); None: the default schedule()
    content_weight: float = 1.0
    style_weight: float = 1.5  # at REFERENCE_SIDE px; see style_weight_at
    style_size_exponent: float = 0.5  # how the style weight follows the working size (0: constant)
    tv_weight: float = 1.0
    content_layers: Layers = GATYS_CONTENT_LAYERS
    style_layers: Layers = GATYS_STYLE_LAYERS
    convention: str = "relative"  # what the weights multiply (targets.LossWeights)
    style_blend: tuple[float, ...] | None = None  # one share per style image
    style_scale: float = 1.0  # style image size relative to the working size
    style_upscale: bool = False  # follow a working size above the painting's own (blurred); False: keep its own
    preserve_colors: str | None = None  # luminance | histogram
    init: str = "content"  # content | noise | gray | path to an image
    init_noise: float = 0.0  # uniform noise of this amplitude added to the start
    seed: int = 0
    optimizer: str = "lbfgs"  # lbfgs | adam | sgd
    learning_rate: float = 0.01  # adam/sgd, [0, 1] pixel units
    lr_decay: float = 1.0  # adam/sgd: rate x lr_decay every lr_decay_steps
    lr_decay_steps: int = 100
    scales: int = 0  # coarse-to-fine levels; 0: automatic (start near 128 px), 1: off
    coarse_iterations: int | None = None  # per coarse level; None: same as iterations
    net: str = "vgg16"
    pool: str = "max"
    engine: str = "auto"  # auto | training | portable
    provider: str = "CPUExecutionProvider"  # onnxruntime execution provider (portable engine)
    threads: int = 0  # 0: every core
    keep_size: bool = False  # upscale the result to the content's original size
    max_memory: int | None = None  # bytes a run may use; None: the memory free when it starts
    tile: int | None = None  # tile cores of this many px; None: tiles only if untiled does not fit; 0: never
    time_budget: float | None = None  # seconds the run may take; iterations per level are planned to fit

    def base_iterations(self) -> int:
        """`iterations`, or by default 100 at 512 px and above, more below (up to 200 at 256 px).

        Small images are cheap and, with fewer coarse-to-fine levels under them, had converged
        less after 100 iterations: measured with bench/quality.py, a 256 px preview then kept
        less of the photo and matched the painting less than the 512 px result it previews.
        """
        if self.iterations is not None:
            return self.iterations
        return round(DEFAULT_ITERATIONS * min(2.0, max(1.0, REFERENCE_SIDE / self.size)))

    def final_iterations(self) -> int:
        """Iterations at the final size: `iterations`, or the default tapered above DETAIL_SIDE
        (schedule.tapered: 100 up to 1024 px, 50 at 2048, 17 at 6000)."""
        return self.base_iterations() if self.iterations is not None else tapered(self.base_iterations(), self.size)

    def schedule(self) -> list[Level]:
        """The coarse-to-fine levels and their iterations (explicit counts are never tapered)."""
        return scale_schedule(self.size, self.base_iterations(), self.levels(), self.coarse_iterations,
                              taper=self.iterations is None)

    def levels(self) -> int:
        return self.scales if self.scales > 0 else auto_levels(self.size)

    def style_weight_at(self, long_side: int) -> float:
        """The style weight for a working image `long_side` px long.

        The same weights strike a different balance at different sizes: measured with
        bench/quality.py, a 256 px result kept less of the photo AND matched the painting less
        well than a 512 px one, because the deep layers see a coarser grid. The weight grows
        as (512 / long_side) ** style_size_exponent, so each size (and each coarse-to-fine
        level) lands at about the same place on its style/content curve.
        """
        return self.style_weight * (REFERENCE_SIDE / long_side) ** self.style_size_exponent

    def loss_weights(self, long_side: int = REFERENCE_SIDE) -> LossWeights:
        return LossWeights(self.content_weight, self.style_weight_at(long_side), self.tv_weight,
                           dict(self.content_layers), dict(self.style_layers), self.convention)

    def optimizer_settings(self, iterations: int) -> OptimizerSettings:
        return OptimizerSettings(iterations=iterations, method=self.optimizer, learning_rate=self.learning_rate,
                                 decay=self.lr_decay, decay_steps=self.lr_decay_steps)

    def validate(self) -> None:
        finite = np.isfinite
        checks = [
            (self.size >= 16, f"--size must be at least 16 pixels, not {self.size}"),
            (self.size <= 8192, f"--size {self.size} is above the 8192-pixel maximum"),
            (self.iterations is None or self.iterations >= 1, f"--iterations must be at least 1, not {self.iterations}"),
            (0 <= self.content_weight <= MAX_WEIGHT,
             f"--content-weight must be between 0 and {MAX_WEIGHT:g}, not {self.content_weight}"),
            (0 < self.style_weight <= MAX_WEIGHT,
             f"--style-weight must be > 0 and at most {MAX_WEIGHT:g}, not {self.style_weight}"),
            (0 <= self.style_size_exponent <= 2 and finite(self.style_size_exponent),
             f"--style-size-exponent must be between 0 and 2, not {self.style_size_exponent}"),
            (0 <= self.tv_weight <= MAX_WEIGHT, f"--tv-weight must be between 0 and {MAX_WEIGHT:g}, not {self.tv_weight}"),
            (self.threads >= 0, f"--threads must be >= 0, not {self.threads}"),
            (self.max_memory is None or self.max_memory > 0, f"--max-memory must be > 0, not {self.max_memory}"),
            (self.time_budget is None or self.time_budget > 0, f"--time-budget must be > 0, not {self.time_budget}"),
            (self.tile is None or self.tile == 0 or 32 <= self.tile <= 8192,
             f"--tile must be 0 (never) or between 32 and 8192 px, not {self.tile}"),
            (0 <= self.scales <= 6, f"--scales must be between 0 (automatic) and 6, not {self.scales}"),
            (self.coarse_iterations is None or self.coarse_iterations >= 1,
             f"--coarse-iterations must be at least 1, not {self.coarse_iterations}"),
            (0.1 <= self.style_scale <= 4 and finite(self.style_scale),
             f"--style-scale must be between 0.1 and 4, not {self.style_scale}"),
            (0 <= self.init_noise <= 1 and finite(self.init_noise), f"--init-noise must be in [0, 1], not {self.init_noise}"),
            (bool(self.style_layers), "at least one style layer is needed"),
            (all(0 < w <= MAX_WEIGHT for _, w in self.content_layers + self.style_layers),
             f"layer weights must be > 0 and at most {MAX_WEIGHT:g}"),
            (self.style_blend is None or all(0 <= s < float("inf") for s in self.style_blend),
             f"--style-blend needs finite numbers >= 0, not {self.style_blend}"),
            (self.max_memory is None or self.max_memory >= MIN_MEMORY,
             f"--max-memory {format_bytes(self.max_memory or 0)} is too small: a run needs at least "
             f"{format_bytes(MIN_MEMORY)}"),
            (self.convention in CONVENTIONS, f"unknown convention {self.convention!r}; choose one of {', '.join(CONVENTIONS)}"),
            (self.preserve_colors in (None, *COLOR_MODES),
             f"--preserve-colors must be one of {', '.join(COLOR_MODES)}, not {self.preserve_colors!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise NstError(message)
        self._validate_layers()
        if self.init not in INITS and not Path(self.init).is_file():
            raise NstError(f"--init must be one of {', '.join(INITS)} or an image file, not {self.init!r}")
        self.optimizer_settings(self.final_iterations()).validate()


    def _validate_layers(self) -> None:
        """Layer names of the network, each named once (relu1_1 ... relu5_x)."""
        if self.net not in NETS:
            raise NstError(f"--net must be one of {', '.join(NETS)}, not {self.net!r}")
        known = relu_names(self.net)
        for option, layers in (("--content-layers", self.content_layers), ("--style-layers", self.style_layers)):
            names = [name for name, _ in layers]
            for name in names:
                if name not in known:
                    raise NstError(f"{option}: {name!r} is not a layer of {self.net}; choose from {', '.join(known)}")
            if len(set(names)) < len(names):
                raise NstError(f"{option} names a layer twice: {', '.join(names)}")


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
    total = 1.0 if masked else sum(shares)
    return tuple(s / total for s in shares)


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


def plan_levels(content_size: tuple[int, int], options: StylizeOptions, manifest: Manifest, styles: int = 1,
                regions: int = 0) -> tuple[list[Level], list[tuple[int, int]], list[RunPlan]]:
    """The levels, their sizes and memory plans (nst_ort/plan.py) against one limit: the memory
    free when the run starts. The final level is planned first: its refusal is the one to show."""
    levels, sizes = _feasible_levels(content_size, options)
    limit = options.max_memory if options.max_memory is not None else available_bytes()
    layers = tuple(dict.fromkeys(name for name, _ in options.content_layers + options.style_layers))
    content_layers = tuple(name for name, _ in options.content_layers)
    plans = [plan_run(PlanRequest(width, height, resolve_engine(options.engine), options.optimizer, manifest.net,
                                  layers, content_layers, manifest.layers, regions, styles, options.tile, limit))
             for width, height in reversed(sizes)]
    return levels, sizes, plans[::-1]


def level_engine(model: ExportedModel, options: StylizeOptions, plan: RunPlan, extractor: FeatureExtractor,
                  content: np.ndarray, styles: list[np.ndarray], blend: tuple[float, ...], masks: list[np.ndarray],
                  long_side: int, on_tile: TileCallback | None = None) -> Engine:
    """Targets and the engine of one level: untiled, or tiled as the plan says.

    The arena's free memory goes back to the system before the targets (what the last level
    held) and after them, so the engine's first run, its largest, starts from an empty arena
    and the level's peak is its own."""
    weights = options.loss_weights(long_side)
    extractor.release_unused_memory()
    features = extractor if plan.layout is None else TiledFeatures(extractor, model.manifest.net, plan.layout.core)
    inputs = loss_inputs(features, content, styles, blend, weights, masks)
    extractor.release_unused_memory()
    if plan.layout is None:
        return make_engine(options.engine, model, inputs, content.shape[1:], options.threads, options.provider)
    return TiledEngine(model, inputs, plan.layout, options.threads, on_tile)


def stylize(content: Image.Image, styles: list[Image.Image], model: ExportedModel,
            options: StylizeOptions = StylizeOptions(), on_progress: ProgressCallback | None = None,
            masks: Sequence[Image.Image] = (), checkpoints: Checkpointer | None = None,
            resume: Checkpoint | None = None, notify: Callable[[str], None] | None = None) -> StylizeResult:
    """Optimise the pixels of `content` toward the style of `styles`, coarse to fine.

    With `masks` (one grayscale image per style, see nst_ort/masks.py) each style applies
    only to its own region of the content. `checkpoints` keeps the run's state on disk as it
    goes (nst_ort/runstate.py); `resume` continues from such a state exactly. The memory plan
    (nst_ort/plan.py: untiled or tiles) is made before any work and told to `notify`.
    """
    options.validate()
    _check_layers(options, model)
    if not styles:
        raise NstError("at least one style image is needed")
    if masks:
        check_masks(list(masks), len(styles))
    started = time.perf_counter()
    blend = blend_shares(options, len(styles), masked=bool(masks))
    levels, sizes, plans = plan_levels(content.size, options, model.manifest, len(styles), len(masks))  # refuses at once
    if notify is not None:
        notify(f"plan: {plans[-1].describe()}")
    if resume is not None and resume.level >= len(levels):
        raise NstError(f"the checkpoint is at level {resume.level + 1} of a run with {len(levels)} levels: cannot resume")
    extractor = FeatureExtractor(str(model.features_path), options.threads)
    costs = [level_cost(plan) for plan in plans]
    iterations = [level.iterations for level in levels]
    seconds_per_cost: float | None = None
    position = resume or Checkpoint(level=0, start=None, snapshot=None, history=(), evaluations=0, seconds=0.0)
    pixels = position.start
    history: list[Progress] = list(position.history)
    evaluations, interrupted, loss = position.evaluations, False, float("inf")
    earlier_sessions = position.seconds + (position.snapshot.elapsed if position.snapshot else 0.0)
    run_seconds = lambda: earlier_sessions + time.perf_counter() - started  # noqa: E731
    peaks: dict[int, int | None] = {}  # per level, where the platform can start a new peak
    earlier_peak = 0  # the peak before each level (re)starts counting
    for index in range(position.level, len(levels)):
        level, (width, height) = levels[index], sizes[index]
        earlier_peak = max(earlier_peak, peak_rss_bytes() or 0)
        level_peak_known = reset_peak_rss()
        try:  # targets take minutes at print size: a stop signal here keeps what the run has
            content_pixels = to_array(content, (width, height))
            engine = level_engine(model, options, plans[index], extractor, content_pixels,
                                   style_arrays(styles, level.long_side, options, content_pixels), blend,
                                   [mask_array(mask, (width, height)) for mask in masks], level.long_side,
                                   getattr(on_progress, "tile", None))  # a reporter may show tiles inside evaluations
            start = initial_pixels(options, content_pixels) if pixels is None else resize_pixels(pixels, (width, height))
        except KeyboardInterrupt:
            interrupted = True
            if checkpoints is not None:
                checkpoints.flush()
            pixels = pixels if pixels is not None else to_array(content, (width, height))
            break
        level_start = Checkpoint(index, pixels, None, tuple(history), evaluations,
                                 position.seconds if index == position.level else run_seconds())
        snapshot = position.snapshot if index == position.level else None
        done = len(snapshot.history) if snapshot is not None else 0
        if snapshot is not None and snapshot.history:  # a resumed level keeps the iterations it was given
            iterations[index] = snapshot.history[-1].iterations
        deadline = level_deadline = planned_end = None
        if options.time_budget is not None:
            seconds_per_cost = seconds_per_cost or _measured_pace(history, costs)
            left = BUDGET_SHARE * options.time_budget - run_seconds()
            wanted = [iterations[index] - done if done else level.iterations, *(n.iterations for n in levels[index + 1:])]
            planned = budget_iterations(left, wanted, costs[index:], seconds_per_cost)
            iterations[index:] = [iterations[index] if done else planned[0], *planned[1:]]
            deadline, planned_end = (time.perf_counter() + options.time_budget - run_seconds(),
                                     time.perf_counter() + left)
            level_deadline = min(deadline, time.perf_counter() + first_level_seconds(left, wanted, costs[index:],
                                                                                       seconds_per_cost))
        on_snapshot = None
        if checkpoints is not None:
            checkpoints.update(replace(level_start, snapshot=snapshot))
            on_snapshot = lambda snap, at=level_start: checkpoints.update(replace(at, snapshot=snap))  # noqa: E731
        settings = replace(options.optimizer_settings(iterations[index]), history=plans[index].history)
        outcome = optimize(engine, start, settings,
                           _level_callback(on_progress, iterations, index, costs, level_deadline, planned_end, run_seconds),
                           on_snapshot, snapshot, level_deadline)
        if level_peak_known:
            peaks[index] = peak_rss_bytes()
        if outcome.history:
            seconds_per_cost = outcome.history[-1].seconds_per_iteration / costs[index]
        pixels, loss = outcome.image, outcome.loss
        history += [replace(p, level=index + 1, levels=len(levels)) for p in outcome.history]
        evaluations += outcome.evaluations
        if outcome.interrupted:
            interrupted = True
            if checkpoints is not None:
                checkpoints.flush()
            break
    final = pixels
    if options.preserve_colors == "luminance":
        final = transfer_luminance(pixels, to_array(content, (pixels.shape[2], pixels.shape[1])))
    image = to_image(final)
    final_size = content.size if options.keep_size else sizes[-1]
    if image.size != final_size:
        image = image.resize(final_size, Image.Resampling.LANCZOS)
    report = {
        "settings": asdict(options),
        "masks": len(masks),
        "model": {"folder": str(model.folder), "net": model.manifest.net, "pool": model.manifest.pool,
                  "source": model.manifest.source, "source_sha256": model.manifest.source_sha256},
        "versions": versions(),
        "levels": [{"long_side": level.long_side, "size": list(size), "iterations": level.iterations,
                    "plan": plan.describe(), "estimated_peak_bytes": plan.estimate,
                    "peak_rss_bytes": peaks.get(index)}
                   for index, (level, size, plan) in enumerate(zip(levels, sizes, plans))],
        "total_seconds": run_seconds(),
        "evaluations": evaluations,
        "interrupted": interrupted,
        "final_loss": loss,
        "iterations": [{"level": p.level, "iteration": p.iteration, "loss": p.loss, "terms": p.terms,
                        "evaluations": p.evaluations,
                        "seconds": p.elapsed} for p in history],
        "peak_rss_bytes": max([earlier_peak, peak_rss_bytes() or 0, *(peak or 0 for peak in peaks.values())]) or None,
    }
    if checkpoints is not None:
        report["checkpoints"] = checkpoints.summary()
    return StylizeResult(image, Outcome(pixels, loss, history, evaluations, interrupted), report)
