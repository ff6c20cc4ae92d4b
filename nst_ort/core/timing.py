"""Seconds per loss+gradient evaluation and peak memory, for one engine and size."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

from nst_base.model_store import ExportedModel
from nst_base.versions import versions
from nst_ort.core.engines.factory import make_engine
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.engines.tiled import TiledEngine, TiledFeatures
from nst_ort.core.engines.tiles import tile_layout
from nst_ort.platform.memory import peak_rss_bytes
from nst_ort.platform.sessions import resolved_threads
from nst_ort.core.targets import LossWeights, loss_inputs
from nst_ort.options.stylize import StylizeOptions


@dataclass(frozen=True)
class BenchResult:
    engine: str
    conv: str
    width: int
    height: int
    threads: int
    warmup: int
    evaluations: int
    median_seconds: float
    min_seconds: float
    setup_seconds: float
    peak_rss_bytes: int | None
    versions: dict

    def as_dict(self) -> dict:
        return asdict(self)


def benchmark(model: ExportedModel, width: int, height: int, engine: str = "auto", evaluations: int = 5,
              warmup: int = 2, threads: int = 0, seed: int = 0, provider: str = "CPUExecutionProvider",
              tile: int = 0, style_loss: str = "gram", conv: str = "direct") -> BenchResult:
    """Median time of `evaluations` loss+gradient calls after `warmup` calls (random images);
    with `tile`, the exact tiled engine with cores of that many px; 3x3 convolutions as `conv`."""
    rng = np.random.default_rng(seed)
    content, style, start = (rng.uniform(0, 1, (3, height, width)).astype(np.float32) for _ in range(3))
    weights = LossWeights.of(StylizeOptions(style_loss=style_loss))  # the default recipe's layers and weights
    began = time.perf_counter()
    extract = FeatureExtractor(str(model.features_path), threads)
    if tile:
        layout = tile_layout(height, width, tile, model.manifest.net, tuple(dict.fromkeys(
            [*weights.content_layers, *weights.style_layers])))
        inputs = loss_inputs(TiledFeatures(extract, model.manifest.net, tile), content, [style], [1.0], weights)
        runner = TiledEngine(model, inputs, layout, threads, conv=conv)
    else:
        inputs = loss_inputs(extract, content, [style], [1.0], weights)
        runner = make_engine(engine, model, inputs, (height, width), threads, provider, conv)
    setup = time.perf_counter() - began
    for _ in range(warmup):
        runner.evaluate(start)
    times = []
    for _ in range(evaluations):
        tick = time.perf_counter()
        runner.evaluate(start)
        times.append(time.perf_counter() - tick)
    return BenchResult(engine=runner.name, conv=conv, width=width, height=height, threads=resolved_threads(threads),
                       warmup=warmup, evaluations=evaluations, median_seconds=statistics.median(times),
                       min_seconds=min(times), setup_seconds=setup, peak_rss_bytes=peak_rss_bytes(),
                       versions=versions())
