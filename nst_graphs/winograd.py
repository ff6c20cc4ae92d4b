"""A 3x3, stride-1, pad-1 convolution as Winograd F(m x m, 3x3), in standard ONNX ops.

Each m x m block of the output comes from an (m+2) x (m+2) tile of the input (stride m):
    Y = A^T [ (G g G^T) * (B^T d B) ] A
so (m+2)^2 products per tile and channel pair replace the direct form's 9 m^2: 2.25x fewer
for m = 2, 4x fewer for m = 4 (with more float32 rounding). In ops:
  input transform    B^T . B as two depthwise strided Convs (rows, then columns):
                     (1, C, H, W) -> (1, a^2 C, th, tw) -> (a^2, C, th*tw), a = m + 2
  products           one batched MatMul with U = G g G^T, transformed here once: (a^2, K, C)
  output transform   an (m^2, a^2) MatMul with A^T . A, DepthToSpace back to
                     (1, K, m th, m tw), cropped to the input's size, plus the bias
The image size stays dynamic: the tile counts come from the input transform's output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nst_graphs.graph import GraphBuilder
from nst_graphs.networks import conv_layers

WINOGRAD_FORMAT = 1  # bump when the graph written here changes: cached models are keyed by it
DEFAULT_CONV = "auto"  # the option's default (nst_ort/options/stylize.py): export builds its graph
AUTO_CHANNELS = 256  # auto: Winograd where a layer's in and out channels both reach this (docs/bench/winograd.json)


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


def row_transform_kernels(channels: int, form: Winograd) -> np.ndarray:
    """(aC, 1, a, 1): for channel c, output c*a + i sums B^T[i, r] d[r, :] down a column."""
    return np.tile(form.b_t.reshape(form.alpha, 1, form.alpha, 1), (channels, 1, 1, 1)).astype(np.float32)


def column_transform_kernels(channels: int, form: Winograd) -> np.ndarray:
    """(a^2 C, 1, 1, a): for row-transformed channel c*a + i, output (c*a + i)*a + j sums
    B^T[j, s] t[:, s] along a row."""
    return np.tile(form.b_t.reshape(form.alpha, 1, 1, form.alpha), (channels * form.alpha, 1, 1, 1)).astype(np.float32)


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

    rows = b.op("Conv", [x, b.const(row_transform_kernels(channels, form), "winograd.bt_rows")],
                kernel_shape=[alpha, 1], strides=[m, 1], pads=[1, 0, m, 0], group=channels)
    tiles = b.op("Conv", [rows, b.const(column_transform_kernels(channels, form), "winograd.bt_columns")],
                 kernel_shape=[1, alpha], strides=[1, m], pads=[0, 1, 0, m], group=channels * alpha)
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
    at least AUTO_CHANNELS in and out, where the measurements found it faster (the others'
    transforms, passes over memory, cost more than the multiplications saved)."""
    if conv == "direct":
        return ()
    if conv not in ("auto", "winograd"):
        raise ValueError(f"conv must be auto, direct or winograd, not {conv!r}")
    least = AUTO_CHANNELS if conv == "auto" else 4
    return tuple(f"{layer.conv}.kernel" for layer in conv_layers(net)
                 if min(layer.in_channels, layer.out_channels) >= least)
