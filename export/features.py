"""The canonical features model: RGB image in [0, 1] -> named relu activations."""

from __future__ import annotations

import numpy as np
import onnx

from export.graph import GraphBuilder
from export.networks import conv_layers
from export.weights import Preprocessing, WeightSet

IMAGE = "image"
IMAGE_SHAPE = [1, 3, "height", "width"]
POOLS = ("max", "avg")


def channels_of(features: onnx.ModelProto) -> dict[str, int]:
    """Relu output name -> channel count, in execution order."""
    return {o.name: o.type.tensor_type.shape.dim[1].dim_value for o in features.graph.output}


def preprocessing_conv(pre: Preprocessing) -> tuple[np.ndarray, np.ndarray]:
    """The source's preprocessing as an exact 1x1 convolution (kernel, bias).

    Channel reordering, scaling, mean and std are all per-pixel affine maps, so one
    1x1 conv applies them inside the graph (no padding involved, borders stay exact).
    """
    order = "RGB" if pre.channel_order == "RGB" else "BGR"
    kernel = np.zeros((3, 3, 1, 1), dtype=np.float32)
    bias = np.zeros(3, dtype=np.float32)
    for out_channel, letter in enumerate(order):
        kernel[out_channel, "RGB".index(letter), 0, 0] = pre.scale / pre.std[out_channel]
        bias[out_channel] = -pre.mean[out_channel] / pre.std[out_channel]
    return kernel, bias


def build_features_model(weights: WeightSet, pool: str = "max") -> onnx.ModelProto:
    """Conv stack up to the last relu, every relu output named canonically (relu1_1 ...)."""
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, not {pool!r}")
    b = GraphBuilder(f"{weights.net}_features")
    kernel, bias = preprocessing_conv(weights.preprocessing)
    x = b.conv(b.input(IMAGE, IMAGE_SHAPE), b.const(kernel, name="preprocess.kernel"),
               b.const(bias, name="preprocess.bias"), pad=0)
    layers = conv_layers(weights.net)
    for position, (layer, w, bias_values) in enumerate(zip(layers, weights.kernels, weights.biases)):
        if position > 0 and layer.block != layers[position - 1].block:
            x = b.pool(x, pool)
        x = b.conv(x, b.const(w, name=f"{layer.conv}.kernel"), b.const(bias_values, name=f"{layer.conv}.bias"), pad=1)
        x = b.relu(x, name=layer.relu)
        b.output(x, shape=[1, w.shape[0], None, None])
    return b.model(doc=f"{weights.net} features ({pool} pooling) from {weights.source}")
