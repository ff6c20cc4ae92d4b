"""The gradient of one tile's share of the loss, for exact tiled evaluation (nst_ort/core/engines/tiled.py).

The loss of the whole image is split over tiles by the cores they own. With the Gram of the
whole image known from a first pass, each core's share of the gradient needs only the
tile itself (its core plus a halo as wide as the deepest layer's receptive field):
  style    dF = sum_k M_k * Q_k (F M_k)       Q_k = 4 w_k / (C^2 S_k) (G_k - A_k), global G_k, S_k
           losses that read the mean: dF = sum_k M_k * Q_k ((F - c_k) M_k) + M_k^2 b_k
           (nst_ort/core/engines/style_losses.py)
  content  dF = c (F - P) * M                 c = 2 w / (C N), N of the whole image
M is the core's indicator at the layer's resolution (times the region mask with masks),
so halo cells, whose features are not exact, send nothing back. Backpropagated through the
tile's forward pass (the backward rules of nst_graphs/gradient_graph.py) these give the tile's
contribution to the image gradient; overlapping contributions add up to the exact
gradient. The loss values and the TV term are computed outside the graph.
"""

from __future__ import annotations

from collections.abc import Collection

import onnx

from nst_graphs.features import IMAGE, IMAGE_SHAPE
from nst_graphs.gradient_graph import GRAD, GradientBuilder
from nst_graphs.loss_graph import LossLayers, add_forward, content_target_name, layer_input, style_mask_name

TILE_GRAPH_FORMAT = 1  # bump when the graph written here changes: cached models are keyed by it


CONTENT_MASK, CONTENT_COEFFICIENT, STYLE_COEFFICIENT = "content_mask", "content_coefficient", "style_coefficient"
STYLE_CENTER, STYLE_BIAS = "style_center", "style_bias"


def build_tile_gradient_model(features: onnx.ModelProto, layers: LossLayers, bias: bool = False,
                              winograd: Collection[str] = ()) -> onnx.ModelProto:
    """Inputs: the tile image [1, 3, h, w]; per content layer its target P [1, C, h', w'], core
    mask [1, 1, h', w'] and coefficient c; per style layer the coefficient matrices Q
    [K, C, C] and masks [K, 1, h', w'] (K = 1 without region masks), and with `bias` the
    centres c and coefficient vectors b [K, C]. Output: `grad` [1, 3, h, w]. The convolutions
    whose kernels `winograd` names run as Winograd F(4x4, 3x3), the same function: halos stay exact."""
    b = GradientBuilder("nst_tile_grad", winograd)
    channels, forward = add_forward(b, features, layers.all)
    b.use_winograd(forward)
    b.input(IMAGE, IMAGE_SHAPE)
    seeds: dict[str, list[str]] = {}
    for layer in layers.content:
        target = b.input(content_target_name(layer), [1, channels[layer], None, None])
        mask = b.input(layer_input(CONTENT_MASK, layer), [1, 1, None, None])
        coefficient = b.input(layer_input(CONTENT_COEFFICIENT, layer), [])
        seeds.setdefault(layer, []).append(b.mul(b.mul(b.sub(layer, target), mask), coefficient))
    for layer in layers.style:
        count = channels[layer]
        coefficients = b.input(layer_input(STYLE_COEFFICIENT, layer), [None, count, count])
        mask = b.input(style_mask_name(layer), [None, 1, None, None])
        if bias:
            center = b.reshape(b.input(layer_input(STYLE_CENTER, layer), [None, count]), [0, count, 1, 1])
            masked = b.mul(b.sub(layer, center), mask)  # K x C x h x w
        else:
            masked = b.mul(layer, mask)
        product = b.matmul(coefficients, b.reshape(masked, [0, count, -1]))  # K x C x N
        spread = b.mul(b.op("Reshape", [product, b.op("Shape", [masked])]), mask)
        if bias:
            vectors = b.input(layer_input(STYLE_BIAS, layer), [None, count])
            spread = b.op("Add", [spread, b.mul(b.mul(mask, mask), b.reshape(vectors, [0, count, 1, 1]))])
        seeds.setdefault(layer, []).append(b.reduce_sum(spread, axes=[0], keepdims=True))
    b.output(b.total_grad(b.backward_to_image(seeds, forward)), name=GRAD, shape=[1, 3, "height", "width"])
    return b.model(doc=f"nst tile gradient: content {layers.content}, style {layers.style}" + (", bias" if bias else ""))


def write_tile_gradient_model(features_path: str, layers: LossLayers, bias: bool, winograd: Collection[str],
                              path: str) -> None:
    """The tile gradient model built from the features model at `features_path`, saved at
    `path` (run in a child process: nst_base/child.py)."""
    onnx.save(build_tile_gradient_model(onnx.load(features_path), layers, bias, winograd), path)
