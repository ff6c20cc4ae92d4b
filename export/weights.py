"""The hand-off between a weight source and the graph builders."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nst_base.errors import NstError
from nst_graphs.features import Preprocessing
from nst_graphs.networks import conv_layers


class WeightsError(NstError):
    """A weight file or package that cannot be used; the message is one line for the user."""


# Keras "caffe" mode: 0..255, BGR, ImageNet mean subtracted, no scaling.
CAFFE = Preprocessing(scale=255.0, channel_order="BGR", mean=(103.939, 116.779, 123.68))
# torchvision: 0..1, RGB, ImageNet mean/std.
TORCHVISION = Preprocessing(scale=1.0, channel_order="RGB", mean=(0.485, 0.456, 0.406),
                            std=(0.229, 0.224, 0.225))


@dataclass(frozen=True)
class WeightSet:
    """Conv weights of one VGG feature stack in canonical order, with provenance."""

    net: str
    kernels: list[np.ndarray]  # each (Cout, Cin, 3, 3) float32
    biases: list[np.ndarray]  # each (Cout,) float32
    preprocessing: Preprocessing
    source: str  # what the weights came from, for the manifest
    sha256: str  # of the source file
    extra: dict = field(default_factory=dict)

    def check(self) -> None:
        """Refuse weights that cannot be a trained VGG of `net`: wrong shapes or degenerate values."""
        self.check_shapes()
        self.check_values()

    def check_shapes(self) -> None:
        """Refuse kernels that do not match the real network's layer table."""
        layers = conv_layers(self.net)
        if len(self.kernels) != len(layers) or len(self.biases) != len(layers):
            raise WeightsError(
                f"{self.source}: expected {len(layers)} conv layers for {self.net}, "
                f"found {len(self.kernels)}")
        for layer, kernel, bias in zip(layers, self.kernels, self.biases):
            want = (layer.out_channels, layer.in_channels, 3, 3)
            if kernel.shape != want or bias.shape != (layer.out_channels,):
                raise WeightsError(
                    f"{self.source}: {layer.conv} has shape {kernel.shape}/{bias.shape}, "
                    f"expected {want}/({layer.out_channels},) for {self.net}")

    def check_values(self) -> None:
        """Refuse non-finite kernels or biases and constant kernels (e.g. all zero); biases may be zero."""
        for layer, kernel, bias in zip(conv_layers(self.net), self.kernels, self.biases):
            for role, values in (("kernel", kernel), ("bias", bias)):
                if not np.isfinite(values).all():
                    raise WeightsError(f"{self.source}: the {role} of {layer.keras_name} holds NaN or "
                                       "infinite values: damaged weights")
            low, high = kernel.min(), kernel.max()
            if low == high:
                what = "zero" if low == 0 else f"the same value ({low:g})"
                raise WeightsError(f"{self.source}: weights for {layer.keras_name} are all {what}: not a trained VGG")
