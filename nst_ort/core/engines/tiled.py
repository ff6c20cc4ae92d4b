"""Exact tiled evaluation: the loss and gradient of the WHOLE image, computed a tile at a time.

Pass 1 runs the features model on every tile's window and accumulates, from the cores only,
each style layer's Gram of the whole image (float64; and its mean, for losses that read it)
and the content error. The style loss and its gradient's coefficients come from these sums
(nst_ort/core/engines/style_losses.py). Pass 2 runs the tile gradient model
(nst_graphs/tile_graph.py) on every window with those coefficients as inputs and adds the
windows' image gradients. With one tile over the whole image (`whole_image_layout`) this is
also the untiled engine of the style losses that need the statistics before the gradient.
The total-variation term is a sum over neighbouring pixels: computed here on the whole
image. Peak memory is the largest window's sessions plus the whole-image arrays, not the
whole image's activations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnxruntime as ort

from nst_base.child import run_in_child
from nst_base.errors import NstError
from nst_base.manifest import FEATURES
from nst_base.model_store import ExportedModel, cache_key
from nst_graphs.features import IMAGE
from nst_graphs.gradient_graph import GRAD, GRADIENT_FORMAT
from nst_graphs.loss_graph import content_target_name, layer_input, style_mask_name
from nst_graphs.winograd import WINOGRAD_FORMAT, winograd_kernels
from nst_graphs.tile_graph import (
    CONTENT_COEFFICIENT,
    CONTENT_MASK,
    STYLE_BIAS,
    STYLE_CENTER,
    STYLE_COEFFICIENT,
    TILE_GRAPH_FORMAT,
    write_tile_gradient_model,
)
from nst_ort.core.engines.base import EngineBase, Evaluation, LossInputs
from nst_ort.core.engines.features import FeatureExtractor
from nst_ort.core.engines.style_losses import GaussianTarget, LayerSums, StyleSeed, gram_seed, w2_seed
from nst_ort.core.engines.tiles import Span, Tile, TileLayout, halo_and_grid, layer_shape, layer_stride, pooled, tile_layout
from nst_ort.platform.sessions import session_options

TILE_MODEL = "tile_gradient.onnx"
TileCallback = Callable[[int, int, int], None]  # (pass 1 or 2, tiles done, tiles)


def tile_model_path(model: ExportedModel, layers, bias: bool = False, conv: str = "direct") -> str:
    winograd = winograd_kernels(model.manifest.net, conv)
    key = cache_key("tile", TILE_GRAPH_FORMAT, GRADIENT_FORMAT, model.manifest.files.get(FEATURES), layers,
                    *(["bias"] if bias else []),
                    *([("winograd", WINOGRAD_FORMAT, winograd)] if winograd else []))

    def build(folder):
        run_in_child(write_tile_gradient_model, str(model.features_path), layers, bias, winograd,
                     str(folder / TILE_MODEL))

    return str(model.cached_artifacts(f"tile-{key}", build) / TILE_MODEL)


def whole_image_layout(height: int, width: int, net: str, layers: tuple[str, ...]) -> TileLayout:
    """One tile: the whole image, no halo."""
    halo, grid = halo_and_grid(net, layers)
    return TileLayout(height, width, max(height, width), halo, grid, (Tile(Span(0, height, 0, height),
                                                                          Span(0, width, 0, width)),))


class TiledFeatures:
    """Feature maps and Grams of images too large for one forward pass, a tile at a time
    (exact: the same halos as the tiled engine). Serves targets.loss_inputs."""

    def __init__(self, extract: FeatureExtractor, net: str, core: int) -> None:
        self.extract, self.net, self.core = extract, net, core

    def _cores(self, pixels: np.ndarray, layers: list[str]):
        """(layer, image-grid cells, the cells' features) for every tile's core."""
        height, width = pixels.shape[1:]
        for tile in tile_layout(height, width, self.core, self.net, tuple(layers)).tiles:
            features = self.extract(pixels[(slice(None), *tile.window)], layers)
            for layer in layers:
                stride = layer_stride(layer)
                (rows, rows_local), (cols, cols_local) = tile.rows.cells(stride, height), tile.cols.cells(stride, width)
                yield layer, (rows, cols), features[layer][0][:, rows_local, cols_local]

    def maps(self, pixels: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
        height, width = pixels.shape[1:]
        maps: dict[str, np.ndarray] = {}
        for layer, (rows, cols), cells in self._cores(pixels, layers):
            if layer not in maps:
                maps[layer] = np.zeros((1, cells.shape[0], *layer_shape(layer, height, width)), np.float32)
            maps[layer][0][:, rows, cols] = cells
        return maps

    def grams(self, pixels: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
        return {layer: second for layer, (second, _) in self.moments(pixels, layers).items()}

    def moments(self, pixels: np.ndarray, layers: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(G, mean over the cells) of `layers`, summed over the tiles' cores."""
        seconds: dict[str, np.ndarray] = {}
        firsts: dict[str, np.ndarray] = {}
        counts = dict.fromkeys(layers, 0)
        for layer, _, cells in self._cores(pixels, layers):
            flat = cells.reshape(cells.shape[0], -1)
            product = (flat @ flat.T).astype(np.float64)
            seconds[layer] = seconds[layer] + product if layer in seconds else product
            firsts[layer] = firsts.get(layer, 0.0) + flat.sum(axis=1, dtype=np.float64)
            counts[layer] += flat.shape[1]
        return {layer: ((seconds[layer] / counts[layer]).astype(np.float32), firsts[layer] / counts[layer])
                for layer in layers}


def total_variation(pixels: np.ndarray, weight: float) -> tuple[float, np.ndarray]:
    """w (sum dx^2 + sum dy^2) / (3 H W) and its gradient, as the loss graph defines it."""
    scale = weight / pixels.size
    grad = np.zeros_like(pixels)
    loss = 0.0
    for axis in (1, 2):
        step = np.diff(pixels, axis=axis)
        loss += float(np.sum(np.square(step, dtype=np.float64)))
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[axis], tail[axis] = slice(0, -1), slice(1, None)
        grad[tuple(head)] -= 2 * scale * step
        grad[tuple(tail)] += 2 * scale * step
    return weight * loss / pixels.size, grad


class TiledEngine(EngineBase):
    name = "tiled"

    def __init__(self, model: ExportedModel, inputs: LossInputs, layout: TileLayout, threads: int = 0,
                 on_tile: TileCallback | None = None, conv: str = "direct") -> None:
        self.inputs, self.layout, self.on_tile = inputs, layout, on_tile
        self.shape = (layout.height, layout.width)
        self.layers = inputs.layers
        self.extract = FeatureExtractor(str(model.features_path), threads)
        options = session_options(threads, shared_arena=True)
        self.bias = inputs.style_loss != "gram"
        self._session = ort.InferenceSession(tile_model_path(model, self.layers, self.bias, conv), options,
                                             providers=["CPUExecutionProvider"])
        self._masks = {layer: inputs.style_masks.get(layer) for layer in self.layers.style}
        self._norms = {layer: self._mask_norms(layer) for layer in self.layers.style}
        self._gaussians = {layer: [GaussianTarget.of(second, mean) for second, mean in zip(
            np.reshape(inputs.style_targets[layer], (-1, *inputs.style_targets[layer].shape[-2:])),
            np.reshape(inputs.style_means[layer], (-1, inputs.style_means[layer].shape[-1])))]
            for layer in self.layers.style} if inputs.style_loss == "w2" else {}
        self._warm_up()

    # -- geometry ---------------------------------------------------------------------------
    def _cells(self, tile, layer: str) -> tuple[tuple[slice, slice], tuple[slice, slice], tuple[slice, slice]]:
        """The core's cells (image grid, window grid) and the window's cells (image grid) of `layer`."""
        stride = layer_stride(layer)
        rows_global, rows_local = tile.rows.cells(stride, self.layout.height)
        cols_global, cols_local = tile.cols.cells(stride, self.layout.width)
        window_rows = slice(tile.rows.window_start // stride, tile.rows.window_start // stride
                            + pooled(tile.rows.window_stop - tile.rows.window_start, stride))
        window_cols = slice(tile.cols.window_start // stride, tile.cols.window_start // stride
                            + pooled(tile.cols.window_stop - tile.cols.window_start, stride))
        return (rows_global, cols_global), (rows_local, cols_local), (window_rows, window_cols)

    def _layer_shape(self, layer: str) -> tuple[int, int]:
        return layer_shape(layer, self.layout.height, self.layout.width)

    def _mask_norms(self, layer: str) -> np.ndarray:
        """S_k = sum(M_k^2) over the whole image (N without masks), as a (K, 1, 1) array."""
        masks = self._masks[layer]
        if masks is None:
            height, width = self._layer_shape(layer)
            return np.full((1, 1, 1), float(height * width))
        return np.sum(np.square(masks, dtype=np.float64), axis=(1, 2, 3)).reshape(-1, 1, 1)

    # -- the two passes ---------------------------------------------------------------------
    def evaluate(self, pixels: np.ndarray) -> Evaluation:
        if pixels.shape != (3, *self.shape):
            raise NstError(f"this engine evaluates images of shape {(3, *self.shape)}, not {pixels.shape}")
        sums, content_sums = self._first_pass(pixels)
        inputs, terms = self.inputs, {"content_loss": 0.0, "style_loss": 0.0}
        for layer, total in content_sums.items():
            channels = inputs.content_targets[layer].shape[1]
            height, width = self._layer_shape(layer)
            terms["content_loss"] += inputs.content_weights[layer] * total / (channels * height * width)
        seeds = {layer: self._style_seed(layer, layer_sums) for layer, layer_sums in sums.items()}
        terms["style_loss"] = sum(seed.loss for seed in seeds.values())
        tv_loss, grad = total_variation(pixels, inputs.tv_weight)
        terms["tv_loss"] = tv_loss
        self._second_pass(pixels, seeds, grad)
        terms["loss"] = terms["content_loss"] + terms["style_loss"] + tv_loss
        return Evaluation(terms["loss"], terms, grad)

    def _style_seed(self, layer: str, sums: LayerSums) -> StyleSeed:
        weights = self.inputs.style_weights[layer]
        if self.inputs.style_loss == "w2":
            return w2_seed(sums, self._gaussians[layer], weights)
        return gram_seed(sums, self.inputs.style_targets[layer], weights)

    def _first_pass(self, pixels: np.ndarray) -> tuple[dict[str, LayerSums], dict[str, float]]:
        layers = self.layers
        grams: dict[str, np.ndarray] = {}
        means: dict[str, np.ndarray] = {}
        content_sums = dict.fromkeys(layers.content, 0.0)
        for done, tile in enumerate(self.layout.tiles, start=1):
            features = self.extract(pixels[(slice(None), *tile.window)], layers.all)
            for layer in layers.content:
                core, local, _ = self._cells(tile, layer)
                error = features[layer][0][(slice(None), *local)] - self.inputs.content_targets[layer][0][(slice(None), *core)]
                content_sums[layer] += float(np.sum(np.square(error, dtype=np.float64)))
            for layer in layers.style:
                core, local, _ = self._cells(tile, layer)
                cells = features[layer][0][(slice(None), *local)]
                channels = cells.shape[0]
                if self._masks[layer] is None:
                    flat = cells.reshape(1, channels, -1)
                    weighted = flat
                else:
                    masks = self._masks[layer][(slice(None), 0, *core)]
                    flat = (cells[None] * masks[:, None]).reshape(len(masks), channels, -1)
                    weighted = flat * masks.reshape(len(masks), 1, -1)  # m^2 f
                product = np.matmul(flat, flat.transpose(0, 2, 1)).astype(np.float64)
                grams[layer] = grams[layer] + product if layer in grams else product
                if self.bias:
                    means[layer] = means.get(layer, 0.0) + weighted.sum(axis=-1, dtype=np.float64)
            self._report(1, done)
        sums = {layer: LayerSums(grams[layer], means.get(layer), self._norms[layer].ravel()) for layer in layers.style}
        return sums, content_sums

    def _report(self, step: int, done: int) -> None:
        if self.on_tile is not None:
            self.on_tile(step, done, len(self.layout.tiles))

    def _second_pass(self, pixels: np.ndarray, seeds: dict[str, StyleSeed], grad: np.ndarray) -> None:
        for done, tile in enumerate(self.layout.tiles, start=1):
            (window_grad,) = self._session.run([GRAD], self._gradient_feeds(tile, pixels[(slice(None), *tile.window)],
                                                                             seeds))
            grad[(slice(None), *tile.window)] += window_grad[0]
            self._report(2, done)

    def _warm_up(self) -> None:
        """One gradient run on the largest window (zero image and coefficients) before any other:
        the arena's first region is then the largest the engine needs and every later run of
        either pass fits in it (a features run first would leave a region of its own)."""
        tile = self.layout.tiles[0]  # tile_layout puts the largest window first
        zeros = {}
        for layer in self.layers.style:
            regions, channels = 1 if self._masks[layer] is None else len(self._masks[layer]), \
                self.inputs.style_targets[layer].shape[-1]
            vectors = np.zeros((regions, channels), np.float32) if self.bias else None
            zeros[layer] = StyleSeed(0.0, np.zeros((regions, channels, channels), np.float32), vectors, vectors)
        self._session.run([GRAD], self._gradient_feeds(tile, np.zeros((3, *tile.window_shape), np.float32), zeros))

    def _gradient_feeds(self, tile: Tile, pixels: np.ndarray, seeds: dict[str, StyleSeed]) -> dict[str, np.ndarray]:
        """The tile gradient model's inputs for one tile whose window holds `pixels`."""
        inputs = self.inputs
        feeds = {IMAGE: np.ascontiguousarray(pixels[None])}
        for layer in self.layers.content:
            _, local, window = self._cells(tile, layer)
            target = inputs.content_targets[layer][(slice(None), slice(None), *window)]
            mask = np.zeros((1, 1, *target.shape[2:]), np.float32)
            mask[(0, 0, *local)] = 1.0
            channels = target.shape[1]
            height, width = self._layer_shape(layer)
            feeds[content_target_name(layer)] = np.ascontiguousarray(target)
            feeds[layer_input(CONTENT_MASK, layer)] = mask
            feeds[layer_input(CONTENT_COEFFICIENT, layer)] = np.asarray(
                2.0 * inputs.content_weights[layer] / (channels * height * width), np.float32)
        for layer in self.layers.style:
            _, local, window = self._cells(tile, layer)
            height, width = window[0].stop - window[0].start, window[1].stop - window[1].start
            core = np.zeros((1, 1, height, width), np.float32)
            core[(0, 0, *local)] = 1.0
            masks = self._masks[layer]
            feeds[style_mask_name(layer)] = core if masks is None else masks[(slice(None), slice(None), *window)] * core
            feeds[layer_input(STYLE_COEFFICIENT, layer)] = seeds[layer].matrix
            if self.bias:
                feeds[layer_input(STYLE_CENTER, layer)] = seeds[layer].center
                feeds[layer_input(STYLE_BIAS, layer)] = seeds[layer].bias
        return feeds
