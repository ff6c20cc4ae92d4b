"""The main job: one content image, one or more style images, one stylised image."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from nst_ort.engines.factory import make_engine
from nst_ort.errors import NstError
from nst_ort.images import fit_long_side, load_image, resize_pixels, to_array, to_image
from nst_ort.memory import peak_rss_bytes
from nst_ort.model_store import ExportedModel
from nst_ort.optimize import LbfgsSettings, Outcome, Progress, ProgressCallback, run_lbfgs
from nst_ort.schedule import Level, auto_levels, scale_schedule
from nst_ort.targets import FeatureExtractor, LossWeights, loss_inputs
from nst_ort.versions import versions

GATYS_CONTENT_LAYERS = (("relu4_2", 1.0),)
GATYS_STYLE_LAYERS = tuple((name, 1.0) for name in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
INITS = ("content", "noise", "gray")


@dataclass(frozen=True)
class StylizeOptions:
    """Every setting of a run; the defaults are the product's defaults."""

    size: int = 512  # long side of the working image, pixels
    iterations: int = 300
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    content_layers: tuple[tuple[str, float], ...] = GATYS_CONTENT_LAYERS
    style_layers: tuple[tuple[str, float], ...] = GATYS_STYLE_LAYERS
    style_blend: tuple[float, ...] | None = None  # one share per style image
    init: str = "content"  # content | noise | gray | path to an image
    seed: int = 0
    engine: str = "training"
    threads: int = 0  # 0: every core
    keep_size: bool = False  # upscale the result to the content's original size
    scales: int = 0  # coarse-to-fine levels; 0: automatic (start near 128 px), 1: off
    coarse_iterations: int | None = None  # per coarse level; None: same as iterations
    style_scale: float = 1.0  # style image size relative to the working size

    def levels(self) -> int:
        return self.scales if self.scales > 0 else auto_levels(self.size)

    def validate(self) -> None:
        checks = [
            (self.size >= 16, f"--size must be at least 16 pixels, not {self.size}"),
            (self.size <= 8192, f"--size {self.size} is above the 8192-pixel maximum"),
            (self.iterations >= 1, f"--iterations must be at least 1, not {self.iterations}"),
            (self.content_weight >= 0 and np.isfinite(self.content_weight),
             f"--content-weight must be >= 0, not {self.content_weight}"),
            (self.style_weight > 0 and np.isfinite(self.style_weight),
             f"--style-weight must be > 0, not {self.style_weight}"),
            (self.tv_weight >= 0 and np.isfinite(self.tv_weight), f"--tv-weight must be >= 0, not {self.tv_weight}"),
            (self.threads >= 0, f"--threads must be >= 0, not {self.threads}"),
            (0 <= self.scales <= 6, f"--scales must be between 0 (automatic) and 6, not {self.scales}"),
            (self.coarse_iterations is None or self.coarse_iterations >= 1,
             f"--coarse-iterations must be at least 1, not {self.coarse_iterations}"),
            (0.1 <= self.style_scale <= 4 and np.isfinite(self.style_scale),
             f"--style-scale must be between 0.1 and 4, not {self.style_scale}"),
            (bool(self.style_layers), "at least one style layer is needed"),
            (all(w > 0 and np.isfinite(w) for _, w in self.content_layers + self.style_layers),
             "layer weights must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise NstError(message)
        if self.init not in INITS and not Path(self.init).is_file():
            raise NstError(f"--init must be one of {', '.join(INITS)} or an image file, not {self.init!r}")


@dataclass
class StylizeResult:
    image: Image.Image
    outcome: Outcome
    report: dict = field(default_factory=dict)


def _initial_pixels(init: str, content: np.ndarray, seed: int) -> np.ndarray:
    if init == "content":
        return content.copy()
    if init == "noise":
        return np.random.default_rng(seed).uniform(0, 1, content.shape).astype(np.float32)
    if init == "gray":
        return np.full_like(content, 0.5)
    height, width = content.shape[1:]
    return to_array(load_image(Path(init)), (width, height))


def _blend(options: StylizeOptions, count: int) -> tuple[float, ...]:
    shares = options.style_blend or (1.0,) * count
    if len(shares) != count or any(s < 0 for s in shares) or sum(shares) <= 0:
        raise NstError(f"--style-blend needs {count} non-negative numbers with a positive sum, got {shares}")
    total = sum(shares)
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
    levels = scale_schedule(options.size, options.iterations, options.levels(), options.coarse_iterations)
    sizes = [fit_long_side(content_size, level.long_side) for level in levels]
    need = _min_side(options)
    if min(sizes[-1]) < need:
        raise NstError(f"the working image would be {sizes[-1][0]}x{sizes[-1][1]}: layers down to block "
                       f"{need.bit_length()} need both sides >= {need} px; raise --size")
    kept = [(level, size) for level, size in zip(levels, sizes) if min(size) >= need]
    return [level for level, _ in kept], [size for _, size in kept]


def _level_callback(on_progress: ProgressCallback | None, levels: list[Level], index: int,
                    areas: list[int]) -> ProgressCallback | None:
    """Adds the level and an ETA that counts the levels still to come."""
    if on_progress is None:
        return None

    def report(progress: Progress, pixels: np.ndarray) -> None:
        later = sum(level.iterations * areas[k] / areas[index] for k, level in enumerate(levels) if k > index)
        on_progress(replace(progress, level=index + 1, levels=len(levels),
                            later_levels_seconds=later * progress.seconds_per_iteration), pixels)

    return report


def stylize(content: Image.Image, styles: list[Image.Image], model: ExportedModel,
            options: StylizeOptions = StylizeOptions(), on_progress: ProgressCallback | None = None) -> StylizeResult:
    """Optimise the pixels of `content` toward the style of `styles`, coarse to fine."""
    options.validate()
    _check_layers(options, model)
    if not styles:
        raise NstError("at least one style image is needed")
    started = time.perf_counter()
    blend = _blend(options, len(styles))
    weights = LossWeights(options.content_weight, options.style_weight, options.tv_weight,
                          dict(options.content_layers), dict(options.style_layers))
    extractor = FeatureExtractor(str(model.features_path), options.threads)
    levels, sizes = _feasible_levels(content.size, options)
    areas = [width * height for width, height in sizes]
    pixels: np.ndarray | None = None
    history: list[Progress] = []
    evaluations, interrupted, loss = 0, False, float("inf")
    for index, (level, (width, height)) in enumerate(zip(levels, sizes)):
        content_pixels = to_array(content, (width, height))
        style_size = fit_long_side(content.size, round(level.long_side * options.style_scale))
        style_pixels = [to_array(style, fit_long_side(style.size, max(style_size))) for style in styles]
        inputs = loss_inputs(extractor, content_pixels, style_pixels, blend, weights)
        engine = make_engine(options.engine, model, inputs, (height, width), options.threads)
        start = (_initial_pixels(options.init, content_pixels, options.seed) if pixels is None
                 else resize_pixels(pixels, (width, height)))
        outcome = run_lbfgs(engine, start, LbfgsSettings(level.iterations),
                            _level_callback(on_progress, levels, index, areas))
        pixels, loss = outcome.image, outcome.loss
        history += [replace(p, level=index + 1, levels=len(levels)) for p in outcome.history]
        evaluations += outcome.evaluations
        if outcome.interrupted:
            interrupted = True
            break
    final_size = content.size if options.keep_size else sizes[-1]
    image = to_image(pixels)
    if image.size != final_size:
        image = image.resize(final_size, Image.Resampling.LANCZOS)
    report = {
        "settings": asdict(options),
        "model": {"folder": str(model.folder), "net": model.manifest.net, "pool": model.manifest.pool,
                  "source": model.manifest.source, "source_sha256": model.manifest.source_sha256},
        "versions": versions(),
        "levels": [{"long_side": level.long_side, "size": list(size), "iterations": level.iterations}
                   for level, size in zip(levels, sizes)],
        "total_seconds": time.perf_counter() - started,
        "evaluations": evaluations,
        "interrupted": interrupted,
        "final_loss": loss,
        "iterations": [{"level": p.level, "iteration": p.iteration, "loss": p.loss, "terms": p.terms,
                        "seconds": p.elapsed} for p in history],
        "peak_rss_bytes": peak_rss_bytes(),
    }
    return StylizeResult(image, Outcome(pixels, loss, history, evaluations, interrupted), report)
