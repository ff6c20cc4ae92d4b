"""A 3x3, stride-1, pad-1 convolution as Winograd F(m x m, 3x3), in standard ONNX ops.

Each m x m block of the output comes from an (m+2) x (m+2) tile of the input (stride m):
    Y = A^T [ (G g G^T) * (B^T d B) ] A
so (m+2)^2 products per tile and channel pair replace the direct form's 9 m^2: 2.25x fewer
for m = 2, 4x fewer for m = 4 (with more float32 rounding). In ops:
  input transform    B^T . B as one strided Conv of the channels taken as a batch of
                     one-channel images: (1, C, H, W) -> (C, 1, H, W) -> (C, a^2, th, tw)
                     -> (a^2, C, th*tw), a = m + 2
  products           one batched MatMul with U = G g G^T, transformed here once: (a^2, K, C)
  output transform   an (m^2, a^2) MatMul with A^T . A, DepthToSpace back to
                     (1, K, m th, m tw), cropped to the input's size, plus the bias
The image size stays dynamic: the tile counts come from the input transform's output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nst_graphs.graph import GraphBuilder
from nst_graphs.networks import ConvLayer, conv_layers

WINOGRAD_FORMAT = 2  # bump when the graph written here changes: cached models are keyed by it
DEFAULT_CONV = "auto"  # the option's default (nst_ort/options/stylize.py): export builds its graph
# auto: Winograd where a layer's input times output channels reach this: VGG's conv3_1 (128 -> 256)
# and deeper; conv2_2 (128 -> 128) and the layers above it ran faster direct (docs/bench/winograd.json)
AUTO_CHANNEL_PAIRS = 128 * 256


@dataclass(frozen=True)
class Winograd:
    """The transform matrices of F(m x m, 3x3) (Lavin and Gray's points 0, +-1, +-2, +-1/2)."""

    m: int
    b_t: np.ndarray  # (a, a)
    g: np.ndarray  # (a, 3)
    a_t: np.ndarray  # (m, a)

    @property
    def alpha(self) -> int:
        return self.m + 2


F2 = Winograd(2, np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64),
              np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64),
              np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64))
F4 = Winograd(4, np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                           [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64),
              np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                        [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64),
              np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
                       dtype=np.float64))
FORMS = {2: F2, 4: F4}


def transformed_kernel(kernel: np.ndarray, form: Winograd) -> np.ndarray:
    """(K, C, 3, 3) -> U (a^2, K, C): G g G^T of each kernel, position-major."""
    u = np.einsum("ai,kcij,bj->abkc", form.g, kernel.astype(np.float64), form.g)
    return u.reshape(form.alpha**2, *kernel.shape[:2]).astype(np.float32)


def input_transform_kernel(form: Winograd) -> np.ndarray:
    """(a^2, 1, a, a): output channel a i + j of one input channel is B^T[i, :] d B[:, j]."""
    return np.einsum("ir,js->ijrs", form.b_t, form.b_t).reshape(form.alpha**2, 1, form.alpha, form.alpha) \
        .astype(np.float32)


def output_transform(form: Winograd) -> np.ndarray:
    """(m^2, a^2): Y[m p + q] = sum over (i, j) of A^T[p, i] M[a i + j] A^T[q, j]."""
    return np.einsum("pi,qj->pqij", form.a_t, form.a_t).reshape(form.m**2, form.alpha**2).astype(np.float32)


def winograd_conv(b: GraphBuilder, x: str, u: str, shape: tuple[int, int], bias: str | None, m: int = 4) -> str:
    """Conv(x, kernel, bias, pads 1) of a (K, C, 3, 3) kernel (`shape` = (K, C)) given as its
    transform `u` (a^2, K, C), a constant (`transformed_kernel`)."""
    form = FORMS[m]
    outs, channels = shape
    alpha = form.alpha

    def ints(*values: int) -> str:
        return b.const(np.array(values, np.int64), "winograd.ints")

    # the channels as a batch of one-channel images: one dense Conv, which runs in onnxruntime's
    # blocked kernels (a depthwise pair of Convs, rows then columns, took twice as long)
    one_channel_images = b.op("Reshape", [x, ints(-1, 1, 0, 0)])  # (C, 1, H, W)
    tiles = b.op("Conv", [one_channel_images, b.const(input_transform_kernel(form), "winograd.bt")],
                 kernel_shape=[alpha, alpha], strides=[m, m], pads=[1, 1, m, m])  # (C, a^2, th, tw)
    grid = b.op("Slice", [b.shape(tiles), ints(2), ints(4), ints(0)])  # (th, tw)
    v = b.transpose(b.reshape(tiles, [channels, alpha**2, -1]), [1, 0, 2])  # (a^2, C, T)
    products = b.matmul(u, v)  # (a^2, K, T)
    y = b.matmul(b.const(output_transform(form), "winograd.at"), b.reshape(products, [alpha**2, -1]))  # (m^2, K*T)
    y = b.op("Reshape", [y, b.op("Concat", [ints(1, m * m * outs), grid], axis=0)])
    y = b.op("DepthToSpace", [y], blocksize=m, mode="DCR")  # (1, K, m th, m tw)
    size = b.op("Slice", [b.shape(x), ints(2), ints(4), ints(0)])
    y = b.op("Slice", [y, ints(0, 0), size, ints(2, 3)])
    return y if bias is None else b.add(y, b.reshape(bias, [-1, 1, 1]))


def winograd_kernels(net: str, conv: str) -> tuple[str, ...]:
    """The kernels whose convolutions run as Winograd F(4x4, 3x3) for `conv`: none for direct;
    for winograd every 3x3 convolution but the first (3 input channels); for auto those with
    at least AUTO_CHANNEL_PAIRS channel pairs, where the measurements found it faster (the
    others' transforms, passes over large maps of few channels, cost more than the
    multiplications saved)."""
    if conv == "direct":
        return ()
    if conv not in ("auto", "winograd"):
        raise ValueError(f"conv must be auto, direct or winograd, not {conv!r}")

    def chosen(layer: ConvLayer) -> bool:
        if conv == "auto":
            return layer.in_channels * layer.out_channels >= AUTO_CHANNEL_PAIRS
        return min(layer.in_channels, layer.out_channels) >= 4

    return tuple(f"{layer.conv}.kernel" for layer in conv_layers(net) if chosen(layer))
