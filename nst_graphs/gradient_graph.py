"""The loss AND its gradient with respect to the image, in standard ONNX ops only.

The forward pass and the loss terms are those of nst_graphs/loss_graph.py (shared through
`add_loss`); the backward pass is written out by hand, op by op, so any onnxruntime build
(any platform, Python version or execution provider) can run it with a plain
InferenceSession. The image keeps a dynamic height and width: one model serves every size.

Backward rules (F: C x N features of one layer, N = h*w):
  content  w * mean((F - P)^2)            dF = 2w (F - P) / (C N)
  style    w * sum((G - A)^2) / C^2       dF = 4w / (C^2 N) * (G - A) F      (G = F F^T / N)
  masked   sum_k w_k sum((G_k - A_k)^2) / C^2, G_k = (F M_k)(F M_k)^T / S_k, S_k = sum(M_k^2)
                                          dF = sum_k M_k * 4 w_k / (C^2 S_k) * (G_k - A_k) (F M_k)
  relu     Y = max(X, 0)                  dX = dY * (Y > 0)      (= dY * Sign(Y) as Y >= 0)
  relu read only by a max-pool P          dX = MaxUnpool(dP * (P > 0)): the pool's choice is > 0
                                          exactly where its window's maximum is, so the mask is
                                          taken at a quarter of the size
  conv     stride 1, kernel k, pads p     dX = ConvTranspose(dY, K, pads p)
                                             = Conv(dY, K with in/out swapped and rotated 180 degrees, pads k-1-p)
  maxpool  2x2/2, with Indices            dX = MaxUnpool(dY, Indices, Shape(X))
  avgpool  2x2/2                          dX = nearest 2x upsample of dY / 4, zero-padded to Shape(X)
  tv       w * (sum(dx^2) + sum(dy^2)) / (3HW)    d/dx_k = 2w/(3HW) (step_{k-1} - step_k) per axis
Gradients of a value read by several consumers (a relu with a loss term and a next layer)
are summed; the backward pass starts at the deepest layer the loss uses.

Forms chosen for speed on onnxruntime's CPU provider (measured with VGG16 at 400x533,
2 threads): the Conv form of the conv gradient is ~15% faster per evaluation than
ConvTranspose (it runs in the same blocked NCHWc kernels as the forward; but into the
image's 3 channels ConvTranspose is faster, see FEW_CHANNELS; the rotated
kernel is computed in-graph from the forward's initializer by Transpose + Slice, which
onnxruntime constant-folds at load, so the file holds each kernel once); Cast(Greater) is
~2x faster than Sign, and Mul(Cast(Greater)) 2.5x faster than Where (156 against 57 ms per
evaluation); Resize (nearest) beats Expand+Reshape and a depthwise ConvTranspose
for the avg-pool upsample.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nst_base.child import run_in_child
from nst_base.manifest import FEATURES
from nst_base.model_store import ExportedModel, cache_key
from nst_graphs.features import IMAGE
from nst_graphs.graph import GraphBuilder
from nst_graphs.winograd import F4, WINOGRAD_FORMAT, transformed_kernel, winograd_conv, winograd_kernels
from nst_graphs.loss_graph import (INT64_MAX, LOSS_FORMAT, LOSS_OUTPUTS, LossBuilder, LossGraph, LossLayers, StyleTerm,
                                  add_loss)

GRAD = "grad"
# a convolution's gradient into fewer channels than this (the image's 3) runs as ConvTranspose:
# the Conv form's blocked kernels pad 3 output channels to a block (22 against 12 ms, conv1_1 at 533x400)
FEW_CHANNELS = 16
GRADIENT_FORMAT = 3  # bump when the graph written here changes: cached models are keyed by it
GRADIENT_MODEL = "gradient.onnx"  # its file name in the model folder's cache


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class GradientBuilder(LossBuilder):
    """LossBuilder plus the backward rules, each one small function of value names. Convolutions
    whose kernel is named in `winograd` run as Winograd F(4x4, 3x3), forward and backward
    (nst_graphs/winograd.py)."""

    def __init__(self, name: str, winograd: Collection[str] = ()) -> None:
        super().__init__(name)
        self.winograd = frozenset(winograd)

    def kernel(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(next(init for init in self.initializers if init.name == name))

    def winograd_kernel(self, kernel: str, backward: bool = False) -> tuple[str, tuple[int, int]]:
        """The Winograd transform U of a kernel initializer (its backward convolution's: the
        kernel turned, with in and out swapped), a constant made here, and its (K, C). Made
        here rather than in-graph: onnxruntime's folding of the in-graph form took 0.4 GB more
        at load (VGG16, 533x400), for a file 0.3 GB smaller."""
        values = self.kernel(kernel)
        if backward:
            values = values.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
        return self.const(transformed_kernel(values, F4), f"{kernel}.winograd{'.backward' if backward else ''}"), \
            values.shape[:2]

    def use_winograd(self, forward: tuple[onnx.NodeProto, ...]) -> None:
        """The forward convolutions with a kernel in `winograd` replaced, in place, by their
        Winograd form (the same output name)."""
        for node in forward:
            if node.op_type != "Conv" or node.input[1] not in self.winograd:
                continue
            _check_winograd(node, self)
            start = len(self.nodes)
            u, shape = self.winograd_kernel(node.input[1])
            result = winograd_conv(self, node.input[0], u, shape, node.input[2], m=4)
            added = self.nodes[start:]
            del self.nodes[start:]
            for made in added:
                made.output[:] = [node.output[0] if out == result else out for out in made.output]
            at = next(i for i, n in enumerate(self.nodes) if n is node)
            self.nodes[at:at + 1] = added

    # -- small helpers ---------------------------------------------------------------
    def int64s(self, values, hint: str = "ints") -> str:
        return self.const(np.array(values, dtype=np.int64), hint)

    def size(self, x: str) -> str:
        """Element count of x as a float scalar."""
        return self.cast_float(self.op("Size", [x]))

    def scale(self, x: str, factor: float, *by: str) -> str:
        """x * factor * by[0] * by[1] ... (the scalar is formed first, one pass over x)."""
        scalar = self.const(float(factor))
        for value in by:
            scalar = self.mul(scalar, value)
        return self.mul(x, scalar)

    def total_grad(self, contributions: list[str]) -> str:
        return contributions[0] if len(contributions) == 1 else self.op("Sum", contributions)

    def pad(self, x: str, begin: list[int], end: list[int]) -> str:
        return self.op("Pad", [x, self.int64s(begin + end, "pads")])

    def pad_end_to(self, x: str, like: str) -> str:
        """Zero-pad x at the bottom/right up to the shape of `like` (a dynamic pad)."""
        end = self.sub(self.shape(like), self.shape(x))
        return self.op("Pad", [x, self.op("Concat", [self.int64s([0, 0, 0, 0], "zeros"), end], axis=0)])

    # -- loss terms -> d loss / d features -------------------------------------------
    def content_grad(self, features: str, error: str, weight: str) -> str:
        """2w (F - P) / (C N)."""
        return self.scale(error, 2.0, weight, self.reciprocal(self.size(features)))

    def style_grad(self, features: str, term: StyleTerm, channels: int) -> str:
        """4w / (C^2 N) (G - A) F, as C x C times C x N, reshaped back to F's shape.
        Masked: per region the same with S_k for N and F M_k for F, then times M_k, summed."""
        if term.mask is None:
            # C^2 N = C * Size(F)
            coefficient = self.scale(term.weight, 4.0 / channels, self.reciprocal(self.size(features)))
            product = self.matmul(self.mul(term.error, coefficient), term.flat)
            return self.op("Reshape", [product, self.shape(features)])
        regions = self.reshape(term.weight, [-1, 1, 1])
        coefficient = self.div(self.scale(regions, 4.0 / channels**2), term.norm)
        product = self.matmul(self.mul(term.error, coefficient), term.flat)  # K x C x N
        channels_height_width = self.op("Slice", [self.shape(features), self.int64s([1]), self.int64s([4])])
        shape = self.op("Concat", [self.int64s([-1]), channels_height_width], axis=0)  # K x C x h x w
        masked = self.mul(self.op("Reshape", [product, shape]), term.mask)
        return self.reduce_sum(masked, axes=[0], keepdims=True)

    def tv_grad(self, image: str, weight: str) -> str:
        """2w/(3HW) * sum over axes of (step shifted down one) - step, steps zero outside."""
        parts = []
        for axis in (2, 3):
            step = self.sub(self.slice(image, axis, 1, INT64_MAX), self.slice(image, axis, 0, -1))
            before = [0, 0, 0, 0]
            before[axis] = 1
            parts.append(self.sub(self.pad(step, before, [0] * 4), self.pad(step, [0] * 4, before)))
        return self.scale(self.add(*parts), 2.0, weight, self.reciprocal(self.size(image)))

    def reciprocal(self, x: str) -> str:
        return self.op("Reciprocal", [x])

    # -- layer rules: d output -> d input --------------------------------------------
    def relu_grad(self, dy: str, y: str) -> str:
        return self.mul(dy, self.cast_float(self.op("Greater", [y, self.const(0.0)])))

    def conv_grad(self, dy: str, node: onnx.NodeProto) -> str:
        attrs = _attributes(node)
        if any(v != 1 for key in ("strides", "dilations") for v in attrs.get(key, [1])) or attrs.get("group", 1) != 1:
            raise ValueError(f"{node.name}: only stride-1, undilated, ungrouped convolutions have a gradient rule")
        kernel = node.input[1]
        if kernel in self.winograd:  # the same 3x3 pad-1 convolution, with the turned kernel
            u, shape = self.winograd_kernel(kernel, backward=True)
            return winograd_conv(self, dy, u, shape, None, m=4)
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if self.kernel(kernel).shape[1] < FEW_CHANNELS:  # the image's 3: the transposed form
            return self.op("ConvTranspose", [dy, kernel], pads=pads)
        size = _kernel_size(node, self)
        return self.op("Conv", [dy, self.rotated(kernel)], pads=[size[i % 2] - 1 - p for i, p in enumerate(pads)])

    def rotated(self, kernel: str) -> str:
        """[Cout, Cin, kh, kw] -> [Cin, Cout, kh, kw] turned 180 degrees (a constant onnxruntime folds)."""
        swapped = self.transpose(kernel, [1, 0, 2, 3])
        return self.op("Slice", [swapped, self.int64s([-1, -1], "starts"), self.int64s([-INT64_MAX, -INT64_MAX], "ends"),
                                 self.int64s([2, 3], "axes"), self.int64s([-1, -1], "steps")])

    def max_pool_grad(self, dy: str, indices: str, x: str, node: onnx.NodeProto) -> str:
        attrs = _pool_attributes(node)
        return self.op("MaxUnpool", [dy, indices, self.shape(x)], **attrs)

    def avg_pool_grad(self, dy: str, x: str, node: onnx.NodeProto) -> str:
        _pool_attributes(node)
        scales = self.const(np.array([1, 1, 2, 2], np.float32), "scales")
        up = self.op("Resize", [self.scale(dy, 0.25), "", scales], mode="nearest", nearest_mode="floor",
                     coordinate_transformation_mode="asymmetric")
        return self.pad_end_to(up, x)

    # -- the whole backward pass -------------------------------------------------------
    def backward(self, graph: LossGraph) -> str:
        """d loss / d image, from the loss terms back through the forward nodes."""
        grads: dict[str, list[str]] = {}
        for layer, term in graph.content.items():
            grads.setdefault(layer, []).append(self.content_grad(layer, term.error, term.weight))
        for layer, term in graph.style.items():
            grads.setdefault(layer, []).append(self.style_grad(layer, term, graph.channels[layer]))
        return self.total_grad(self.backward_to_image(grads, graph.forward) + [self.tv_grad(IMAGE, graph.tv_weight)])

    def backward_to_image(self, grads: dict[str, list[str]], forward: tuple[onnx.NodeProto, ...]) -> list[str]:
        """The image's gradient contributions, from gradients of forward values (`grads`, consumed).

        A relu read only by a max-pool takes its mask at the pool's output, a quarter of the
        size: the pool's choice in a window is > 0 exactly where the window's maximum is."""
        readers = Counter(name for node in forward for name in node.input)
        made_by = {node.output[0]: node for node in forward}
        masked: set[str] = set()  # relu outputs whose gradient comes masked already
        for node in reversed(self.with_pool_indices(forward)):
            if node.output[0] not in grads:
                continue
            dy, x = self.total_grad(grads.pop(node.output[0])), node.input[0]
            if node.op_type == "Relu":
                dx = dy if node.output[0] in masked else self.relu_grad(dy, node.output[0])
            elif node.op_type == "Conv":
                dx = self.conv_grad(dy, node)
            elif node.op_type == "MaxPool":
                if getattr(made_by.get(x), "op_type", None) == "Relu" and readers[x] == 1 and x not in grads:
                    dy = self.relu_grad(dy, node.output[0])
                    masked.add(x)
                dx = self.max_pool_grad(dy, node.output[1], x, node)
            elif node.op_type == "AveragePool":
                dx = self.avg_pool_grad(dy, x, node)
            else:
                raise ValueError(f"no gradient rule for {node.op_type} ({node.name})")
            grads.setdefault(x, []).append(dx)
        return grads.pop(IMAGE, [])

    def with_pool_indices(self, forward: tuple[onnx.NodeProto, ...]) -> list[onnx.NodeProto]:
        """Forward nodes with every MaxPool also producing its Indices (replaced in place)."""
        result = []
        for node in forward:
            if node.op_type == "MaxPool" and len(node.output) == 1:
                copy = onnx.NodeProto()
                copy.CopyFrom(node)
                copy.output.append(self.fresh(f"{node.output[0]}.indices"))
                self.nodes[next(i for i, n in enumerate(self.nodes) if n is node)] = copy
                node = copy
            result.append(node)
        return result


def _kernel_size(node: onnx.NodeProto, b: GraphBuilder) -> tuple[int, int]:
    kernel = next(init for init in b.initializers if init.name == node.input[1])
    return tuple(kernel.dims[2:])


def _check_winograd(node: onnx.NodeProto, b: GraphBuilder) -> None:
    attrs = _attributes(node)
    if (_kernel_size(node, b) != (3, 3) or list(attrs.get("pads", [])) != [1, 1, 1, 1] or attrs.get("group", 1) != 1
            or any(v != 1 for key in ("strides", "dilations") for v in attrs.get(key, [1])) or len(node.input) < 3):
        raise ValueError(f"{node.name}: only 3x3 stride-1 pad-1 convolutions with a bias run as Winograd")


def _pool_attributes(node: onnx.NodeProto) -> dict:
    """kernel_shape/strides of a 2x2 stride-2 pool without padding (the only kind exported)."""
    attrs = _attributes(node)
    if (list(attrs.get("kernel_shape", [])) != [2, 2] or list(attrs.get("strides", [1, 1])) != [2, 2]
            or any(attrs.get("pads", [0])) or attrs.get("ceil_mode", 0) or attrs.get("auto_pad", b"NOTSET") != b"NOTSET"):
        raise ValueError(f"{node.name}: only 2x2 stride-2 unpadded pooling has a gradient rule")
    return {"kernel_shape": [2, 2], "strides": [2, 2]}


def build_gradient_model(features: onnx.ModelProto, layers: LossLayers, winograd: Collection[str] = ()) -> onnx.ModelProto:
    """Model with the loss model's inputs (dynamic-size image) and outputs
    (loss, content_loss, style_loss, tv_loss, grad = d loss / d image [1, 3, H, W]); the
    convolutions whose kernels `winograd` names run as Winograd F(4x4, 3x3)."""
    b = GradientBuilder("nst_loss_and_grad", winograd)
    graph = add_loss(b, features, layers)
    b.use_winograd(graph.forward)
    grad = b.backward(graph)
    for name in LOSS_OUTPUTS:
        b.output(graph.outputs[name], name=name, shape=[])
    b.output(grad, name=GRAD, shape=[1, 3, "height", "width"])
    return b.model(doc=f"nst loss and gradient: content {layers.content}, style {layers.style}")


def gradient_model_path(model: ExportedModel, layers: LossLayers, conv: str = "direct") -> str:
    """The cached gradient model of `model` for `layers` and `conv` (nst_graphs/winograd.py), built
    on first use (export builds the default recipe's into a new model folder; the portable
    engine any other layers' on demand)."""
    winograd = winograd_kernels(model.manifest.net, conv)
    key = cache_key("gradient", GRADIENT_FORMAT, LOSS_FORMAT, model.manifest.files.get(FEATURES), layers,
                    *([("winograd", WINOGRAD_FORMAT, winograd)] if winograd else []))

    def build(folder):
        run_in_child(write_gradient_model, str(model.features_path), layers, winograd, str(folder / GRADIENT_MODEL))

    return str(model.cached_artifacts(f"grad-{key}", build) / GRADIENT_MODEL)


def write_gradient_model(features_path: str, layers: LossLayers, winograd: Collection[str], path: str) -> None:
    """The gradient model built from the features model at `features_path`, saved at `path`
    (run in a child process: nst_base/child.py)."""
    onnx.save(build_gradient_model(onnx.load(features_path), layers, winograd), path)
