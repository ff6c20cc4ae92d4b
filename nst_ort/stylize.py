"""The main job: one content image, one or more style images, one stylised image."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from nst_ort.engines.factory import make_engine
from nst_ort.errors import NstError
from nst_ort.images import fit_long_side, load_image, to_array, to_image
from nst_ort.memory import peak_rss_bytes
from nst_ort.model_store import ExportedModel
from nst_ort.optimize import LbfgsSettings, Outcome, ProgressCallback, run_lbfgs
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


def stylize(content: Image.Image, styles: list[Image.Image], model: ExportedModel,
            options: StylizeOptions = StylizeOptions(), on_progress: ProgressCallback | None = None) -> StylizeResult:
    """Optimise the pixels of `content` toward the style of `styles`; returns the best image."""
    options.validate()
    _check_layers(options, model)
    if not styles:
        raise NstError("at least one style image is needed")
    started = time.perf_counter()
    width, height = fit_long_side(content.size, options.size)
    content_pixels = to_array(content, (width, height))
    style_pixels = [to_array(style, fit_long_side(style.size, options.size)) for style in styles]
    weights = LossWeights(options.content_weight, options.style_weight, options.tv_weight,
                          dict(options.content_layers), dict(options.style_layers))
    extractor = FeatureExtractor(str(model.features_path), options.threads)
    inputs = loss_inputs(extractor, content_pixels, style_pixels, _blend(options, len(styles)), weights)
    engine = make_engine(options.engine, model, inputs, (height, width), options.threads)
    setup_seconds = time.perf_counter() - started
    outcome = run_lbfgs(engine, _initial_pixels(options.init, content_pixels, options.seed),
                        LbfgsSettings(options.iterations), on_progress)
    image = to_image(outcome.image)
    if options.keep_size and image.size != content.size:
        image = image.resize(content.size, Image.Resampling.LANCZOS)
    report = {
        "settings": asdict(options),
        "model": {"folder": str(model.folder), "net": model.manifest.net, "pool": model.manifest.pool,
                  "source": model.manifest.source, "source_sha256": model.manifest.source_sha256},
        "versions": versions(),
        "working_size": [width, height],
        "setup_seconds": setup_seconds,
        "total_seconds": time.perf_counter() - started,
        "evaluations": outcome.evaluations,
        "interrupted": outcome.interrupted,
        "final_loss": outcome.loss,
        "iterations": [{"iteration": p.iteration, "loss": p.loss, "terms": p.terms, "seconds": p.elapsed}
                       for p in outcome.history],
        "peak_rss_bytes": peak_rss_bytes(),
    }
    return StylizeResult(image, outcome, report)
