"""Canonical VGG layer tables: one place that knows which conv sits where."""

from __future__ import annotations

from dataclasses import dataclass

# convolutions per block (each block ends with a 2x2 pool)
BLOCKS: dict[str, tuple[int, ...]] = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)
NETS: tuple[str, ...] = tuple(BLOCKS)
POOLS: tuple[str, ...] = ("max", "avg")  # pooling between blocks
# the default recipe's layers (Gatys et al.: content relu4_2, style relu1_1 ... relu5_1)
DEFAULT_CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
DEFAULT_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class ConvLayer:
    """One 3x3 convolution of a VGG feature stack, with its canonical names."""

    block: int  # 1-based
    index: int  # 1-based inside the block
    in_channels: int
    out_channels: int

    @property
    def relu(self) -> str:
        return f"relu{self.block}_{self.index}"

    @property
    def conv(self) -> str:
        return f"conv{self.block}_{self.index}"

    @property
    def keras_name(self) -> str:
        return f"block{self.block}_conv{self.index}"


def conv_layers(net: str) -> list[ConvLayer]:
    """The convolutions of `net` in execution order."""
    if net not in BLOCKS:
        raise ValueError(f"unknown network {net!r}; choose one of {', '.join(NETS)}")
    layers: list[ConvLayer] = []
    in_channels = 3
    for block, (count, channels) in enumerate(zip(BLOCKS[net], CHANNELS), start=1):
        for index in range(1, count + 1):
            layers.append(ConvLayer(block, index, in_channels, channels))
            in_channels = channels
    return layers


def relu_names(net: str) -> list[str]:
    return [layer.relu for layer in conv_layers(net)]


def layer_channels(net: str) -> dict[str, int]:
    return {layer.relu: layer.out_channels for layer in conv_layers(net)}


def receptive_field(net: str, relu: str) -> tuple[int, int]:
    """(field, stride) of `relu` in pixels: one output cell sees `field` x `field` input
    pixels and neighbouring cells are `stride` pixels apart (3x3 pad-1 convs, 2x2/2 pools)."""
    field, stride = 1, 1
    layers = conv_layers(net)
    for position, layer in enumerate(layers):
        if position > 0 and layer.block != layers[position - 1].block:
            field, stride = field + stride, stride * 2  # a 2x2 stride-2 pool
        field += 2 * stride  # a 3x3 conv
        if layer.relu == relu:
            return field, stride
    raise ValueError(f"{relu} is not a layer of {net}")
