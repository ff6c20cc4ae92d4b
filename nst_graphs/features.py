"""The canonical features model: RGB image in [0, 1] -> named relu activations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnx

from nst_graphs.graph import GraphBuilder
from nst_graphs.networks import POOLS, conv_layers

IMAGE = "image"
IMAGE_SHAPE = [1, 3, "height", "width"]


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB image in [0, 1] becomes the network's input.

    net_input[c] = (scale * rgb[channel_order[c]] - mean[c]) / std[c]
    """

    scale: float
    channel_order: str  # "RGB" or "BGR": the order the network's first conv expects
    mean: tuple[float, float, float]  # in network channel order, after scaling
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def as_dict(self) -> dict:
        return {"scale": self.scale, "channel_order": self.channel_order,
                "mean": list(self.mean), "std": list(self.std)}


class FeatureWeights(Protocol):
    """What the features model is built from: conv weights of one VGG feature stack in canonical
    order (export.weights.WeightSet, read from a weight source, is one)."""

    net: str
    kernels: list[np.ndarray]  # each (Cout, Cin, 3, 3) float32
    biases: list[np.ndarray]  # each (Cout,) float32
    preprocessing: Preprocessing
    source: str  # what the weights came from


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


def build_features_model(weights: FeatureWeights, pool: str = "max") -> onnx.ModelProto:
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
