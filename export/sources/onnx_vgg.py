"""Read the 3x3 conv weights of any ONNX VGG (model-zoo vgg16-7/vgg19-7, Keras exports, ...)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from export.weights import CAFFE, TORCHVISION, Preprocessing, WeightsError, WeightSet
from nst_base.checksums import sha256_file
from nst_graphs.networks import NETS, conv_layers

_KERAS_NAME = re.compile(r"block\d+_conv\d+")


@dataclass(frozen=True)
class _Conv:
    """A 3x3 Conv node's constant weight and optional constant bias."""

    weight: onnx.TensorProto
    bias: onnx.TensorProto | None


def read_onnx_vgg(path: Path, net: str, preprocessing: Preprocessing | None = None) -> WeightSet:
    """Conv weights of `net` from an ONNX VGG: its 3x3 Convs in graph order (1x1 convs and dense layers ignored).

    `preprocessing` defaults to what the file implies (see `_infer_preprocessing`).
    """
    path = Path(path)
    expected = len(conv_layers(net))
    graph = load_onnx(path).graph
    convs = _vgg_convs(graph, path)
    if len(convs) != expected:
        raise _count_error(path, len(convs), net)
    kernels = [_array(conv.weight, path) for conv in convs]
    biases = [_array(conv.bias, path) if conv.bias is not None else np.zeros(kernel.shape[0], np.float32)
              for conv, kernel in zip(convs, kernels)]
    if preprocessing is None:
        preprocessing = _infer_preprocessing(graph, convs)
    return WeightSet(net=net, kernels=kernels, biases=biases, preprocessing=preprocessing,
                     source=f"onnx:{path.resolve()}", sha256=sha256_file(path))


def load_onnx(path: Path) -> onnx.ModelProto:
    """The model without its external data (`_array` reads what is used); unreadable files become
    one-line WeightsErrors."""
    try:
        return onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise WeightsError(f"cannot read {path} as ONNX (truncated or damaged?): {exc}") from exc


def _infer_preprocessing(graph: onnx.GraphProto, convs: list[_Conv]) -> Preprocessing:
    """Keras exports (block names, or an NHWC input transposed before the first Conv) want CAFFE input;
    others (e.g. the MXNet-made model zoo VGGs) want TORCHVISION input."""
    if any(_KERAS_NAME.search(conv.weight.name) for conv in convs):
        return CAFFE
    for node in graph.node:
        if node.op_type == "Conv":
            break
        if node.op_type == "Transpose":
            return CAFFE
    return TORCHVISION


def _constants(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """Initializers and Constant-node tensors by value name."""
    tensors = {tensor.name: tensor for tensor in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            tensors.update({node.output[0]: attr.t for attr in node.attribute if attr.name == "value"})
    return tensors


def _vgg_convs(graph: onnx.GraphProto, path: Path) -> list[_Conv]:
    """The 3x3 convolutions in graph order."""
    if any(node.op_type == "BatchNormalization" for node in graph.node):
        raise WeightsError(f"{path} is a batch-normalised VGG, which is not supported")
    constants = _constants(graph)
    convs: list[_Conv] = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        weight = _constant_input(node, 1, constants, path)
        if weight is not None and len(weight.dims) == 4 and tuple(weight.dims[2:]) == (3, 3):
            convs.append(_Conv(weight, _constant_input(node, 2, constants, path)))
    return convs


def _constant_input(node: onnx.NodeProto, index: int, constants: dict[str, onnx.TensorProto],
                    path: Path) -> onnx.TensorProto | None:
    """The constant tensor feeding input `index` of `node`; None when that input is absent."""
    if len(node.input) <= index or not node.input[index]:
        return None
    name = node.input[index]
    if name not in constants:
        conv = node.name or node.output[0]
        raise WeightsError(f"{path}: input {name!r} of Conv {conv!r} is not stored in the file")
    return constants[name]


def _array(tensor: onnx.TensorProto, path: Path) -> np.ndarray:
    """The float32 values of `tensor`, external data read from the model's folder only."""
    _check_external_location(tensor, path)
    try:
        return np.ascontiguousarray(numpy_helper.to_array(tensor, base_dir=str(path.parent)), dtype=np.float32)
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise WeightsError(f"{path}: cannot read tensor {tensor.name!r}: {exc}") from exc


def _check_external_location(tensor: onnx.TensorProto, path: Path) -> None:
    """Refuse external data whose file resolves (absolute, '..', symlinks) outside the model's folder,
    whatever checks the installed onnx makes."""
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return
    location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
    if path.parent.resolve() not in (path.parent / location).resolve().parents:
        raise WeightsError(f"{path}: tensor {tensor.name!r} keeps its values in a file outside the model's "
                           f"folder ({location}): refusing to read it")


def _count_error(path: Path, found: int, net: str) -> WeightsError:
    """The wrong number of 3x3 convs, naming the VGG that has that many."""
    other = next((name for name in NETS if len(conv_layers(name)) == found), None)
    tail = f"that is {other}, not {net}" if other is not None else f"{net} has {len(conv_layers(net))}"
    return WeightsError(f"{path} has {found} 3x3 convolutions: {tail}")
