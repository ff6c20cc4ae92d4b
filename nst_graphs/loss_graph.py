"""The style-transfer loss as an ONNX graph on top of the features model.

Per layer, with features F (C x N, N = h*w):
  content:  w_c * sum((F - P)^2) / (C*N)
  style:    w_s * sum((G - A)^2) / C^2,   G = F F^T / N
  tv:       w_tv * (sum(dx^2) + sum(dy^2)) / (3*H*W)   on the [0, 1] image
Targets (P, A) and weights are graph inputs, so one model serves any image pair.

With spatial masks (K regions, each with its own style) a style layer has, per region k,
a mask M_k at the layer's resolution, a target A_k and a weight w_k:
  style:    sum_k w_k * sum((G_k - A_k)^2) / C^2,   G_k = (F M_k)(F M_k)^T / sum(M_k^2)
A mask of ones gives G = F F^T / N, the unmasked Gram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from nst_graphs.features import IMAGE, IMAGE_SHAPE, channels_of
from nst_graphs.graph import GraphBuilder
from nst_graphs.networks import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS

LOSS_OUTPUTS = ("loss", "content_loss", "style_loss", "tv_loss")
INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class LossLayers:
    """Which relu layers carry a content term and which a style term."""

    content: tuple[str, ...]
    style: tuple[str, ...]
    regions: int = 0  # masked style regions; 0: no masks (one Gram per style layer)

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.content + self.style))


# The default recipe's layers (Gatys et al.: content relu4_2, style relu1_1 ... relu5_1): export
# puts their gradient model into a new model folder's cache, and runs use them unless told otherwise.
LOSS_FORMAT = 2  # bump when the loss graph changes (2: sums accurate at any size): cached graphs are keyed by it
DEFAULT_LOSS_LAYERS = LossLayers(DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS)


def layer_input(kind: str, layer: str) -> str:
    """The name of a per-layer graph input, e.g. layer_input("content_target", "relu4_2")."""
    return f"{kind}.{layer}"


def content_target_name(layer: str) -> str:
    return f"content_target.{layer}"


def style_target_name(layer: str) -> str:
    return f"style_target.{layer}"


def style_mask_name(layer: str) -> str:
    return f"style_mask.{layer}"


def content_weight_name(layer: str) -> str:
    return f"content_weight.{layer}"


def style_weight_name(layer: str) -> str:
    return f"style_weight.{layer}"


TV_WEIGHT = "tv_weight"


def prune_to(graph: onnx.GraphProto, outputs: set[str]) -> tuple[list[onnx.NodeProto], set[str]]:
    """Nodes needed to compute `outputs` (in original order) and the values they read."""
    needed, kept = set(outputs), []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
    return kept[::-1], needed


@dataclass(frozen=True)
class ContentTerm:
    error: str  # F - P
    weight: str


@dataclass(frozen=True)
class StyleTerm:
    flat: str  # F as C x N (masked: F M_k as K x C x N)
    error: str  # G - A (masked: K x C x C)
    weight: str  # a scalar (masked: K weights)
    mask: str | None = None  # K x 1 x h x w
    norm: str | None = None  # sum(M_k^2) as K x 1 x 1


@dataclass(frozen=True)
class LossGraph:
    """Names of the values `add_loss` put into a builder, for graphs that extend the loss."""

    channels: dict[str, int]  # relu name -> channels
    forward: tuple[onnx.NodeProto, ...]  # the features nodes kept (pruned to the layers used)
    content: dict[str, ContentTerm]
    style: dict[str, StyleTerm]
    tv_weight: str
    outputs: dict[str, str]  # LOSS_OUTPUTS name -> value name


class LossBuilder(GraphBuilder):
    def flatten(self, features: str, channels: int) -> str:
        return self.reshape(features, [channels, -1])

    def gram(self, flat: str, features: str, channels: int) -> str:
        count = self.div(self.cast_float(self.op("Size", [features])), self.const(float(channels)))
        return self.div(self.matmul(flat, self.transpose(flat, [1, 0])), count)

    def masked_gram(self, features: str, mask: str, channels: int, regions: int) -> tuple[str, str, str]:
        """(F M_k as K x C x N, G_k as K x C x C, sum(M_k^2) as K x 1 x 1)."""
        flat = self.reshape(self.mul(features, mask), [regions, channels, -1])
        norm = self.reshape(self.reduce_sum(self.square(mask), axes=[1, 2, 3]), [regions, 1, 1])
        return flat, self.div(self.matmul(flat, self.transpose(flat, [0, 2, 1])), norm), norm

    def content_term(self, error: str, weight: str) -> str:
        """w * mean((F - P)^2), from error = F - P (1 x C x H x W), summed precisely."""
        return self.mul(weight, self.precise_mean(self.square(error), 4))

    def style_term(self, term: StyleTerm, channels: int) -> str:
        """w * sum((G - A)^2) / C^2, from error = G - A; masked, the sum over regions of w_k * ..."""
        area = self.const(float(channels * channels))
        if term.mask is None:
            return self.mul(term.weight, self.div(self.precise_sum(self.square(term.error), 2), area))
        per_region = self.reduce_sum(self.square(term.error), axes=[1, 2])
        return self.div(self.reduce_sum(self.mul(term.weight, per_region)), area)

    def total_variation(self, image: str, weight: str) -> str:
        """w * (sum of squared steps along y and x) / pixels, summed precisely."""
        pixels = self.cast_float(self.op("Size", [image]))
        squares = []
        for axis in (2, 3):
            step = self.sub(self.slice(image, axis, 1, INT64_MAX), self.slice(image, axis, 0, -1))
            squares.append(self.precise_sum(self.square(step), 4))
        return self.mul(weight, self.div(self.add(*squares), pixels))

    def total(self, terms: list[str]) -> str:
        if not terms:
            return self.const(0.0)
        result = terms[0]
        for term in terms[1:]:
            result = self.add(result, term)
        return result


def _style_term(b: LossBuilder, layer: str, channels: int, regions: int) -> StyleTerm:
    """The inputs and Gram error of one style layer, unmasked or with `regions` masks."""
    if not regions:
        target = b.input(style_target_name(layer), [channels, channels])
        flat = b.flatten(layer, channels)
        return StyleTerm(flat, b.sub(b.gram(flat, layer, channels), target), b.input(style_weight_name(layer), []))
    target = b.input(style_target_name(layer), [regions, channels, channels])
    mask = b.input(style_mask_name(layer), [regions, 1, None, None])
    flat, gram, norm = b.masked_gram(layer, mask, channels, regions)
    return StyleTerm(flat, b.sub(gram, target), b.input(style_weight_name(layer), [regions]), mask, norm)


def add_forward(b: GraphBuilder, features: onnx.ModelProto,
                layers: tuple[str, ...]) -> tuple[dict[str, int], tuple[onnx.NodeProto, ...]]:
    """Add the features forward pruned to `layers` (not the image input); returns the
    channels of every relu and the nodes added."""
    channels = channels_of(features)
    unknown = [name for name in layers if name not in channels]
    if unknown:
        raise ValueError(f"unknown layer(s) {', '.join(unknown)}; this model has {', '.join(channels)}")
    nodes, needed = prune_to(features.graph, set(layers))
    b.nodes.extend(nodes)
    b.skip_past(features.graph.node)
    b.initializers.extend(init for init in features.graph.initializer if init.name in needed)
    return channels, tuple(nodes)


def add_loss(b: LossBuilder, features: onnx.ModelProto, layers: LossLayers,
             image_shape: tuple[int, int] | None = None) -> LossGraph:
    """Add the pruned features forward, the loss inputs and the loss terms to `b`."""
    channels, nodes = add_forward(b, features, layers.all)
    if image_shape is None:
        b.input(IMAGE, IMAGE_SHAPE)
    else:
        b.initializers.append(numpy_helper.from_array(np.zeros((1, 3, *image_shape), np.float32), IMAGE))
    content = {}
    for layer in layers.content:
        target = b.input(content_target_name(layer), [1, channels[layer], None, None])
        content[layer] = ContentTerm(b.sub(layer, target), b.input(content_weight_name(layer), []))
    style = {layer: _style_term(b, layer, channels[layer], layers.regions) for layer in layers.style}
    tv_weight = b.input(TV_WEIGHT, [])
    content_total = b.total([b.content_term(t.error, t.weight) for t in content.values()])
    style_total = b.total([b.style_term(t, channels[layer]) for layer, t in style.items()])
    tv = b.total_variation(IMAGE, tv_weight)
    loss = b.total([content_total, style_total, tv])
    return LossGraph(channels, nodes, content, style, tv_weight,
                     dict(zip(LOSS_OUTPUTS, (loss, content_total, style_total, tv))))


def build_loss_model(features: onnx.ModelProto, layers: LossLayers,
                     image_shape: tuple[int, int] | None = None) -> onnx.ModelProto:
    """Loss model whose outputs are (loss, content_loss, style_loss, tv_loss).

    With `image_shape` (H, W) the image becomes a zero-filled initializer of that shape:
    the form onnxruntime-training needs for a trainable parameter. Without it the image is
    a graph input with dynamic height and width.
    """
    b = LossBuilder("nst_loss")
    graph = add_loss(b, features, layers, image_shape)
    for name in LOSS_OUTPUTS:
        b.output(graph.outputs[name], name=name, shape=[])
    return b.model(doc=f"nst loss: content {layers.content}, style {layers.style}")
