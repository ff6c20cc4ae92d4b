"""Read Keras-applications VGG weight files (`vgg16/19_weights_tf_dim_ordering_tf_kernels_notop.h5`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np

from export.weights import CAFFE, WeightsError, WeightSet
from nst_base.checksums import sha256_file
from nst_graphs.networks import NETS, ConvLayer, conv_layers

_LAYER_NAME = re.compile(r"block\d+_conv\d+")
# last path component, ":0" dropped: "kernel" or "block1_conv1_W_1" / "bias" or "block1_conv1_b_1"
_ROLES = {"kernel": re.compile(r"(^|_)(kernel|W)(_\d+)?$"), "bias": re.compile(r"(^|_)(bias|b)(_\d+)?$")}


def read_keras_h5(path: Path, net: str) -> WeightSet:
    """Conv weights of `net` from a Keras VGG .h5 file, kernels turned HWIO -> OIHW.

    Keras convolutions are cross-correlations like ONNX Conv: no kernel flip is needed.
    """
    path = Path(path)
    layers = conv_layers(net)
    try:
        with h5py.File(path, "r") as h5:
            root = _layer_root(h5)
            _check_net(root, net, path)
            pairs = [_kernel_and_bias(root, layer, path) for layer in layers]
    except (OSError, RuntimeError) as exc:
        raise WeightsError(f"cannot read {path} as HDF5 (truncated or damaged?): {exc}") from exc
    return WeightSet(net=net, kernels=[kernel for kernel, _ in pairs], biases=[bias for _, bias in pairs],
                     preprocessing=CAFFE, source=f"keras-h5:{path.resolve()}", sha256=sha256_file(path))


def _layer_root(h5: h5py.File) -> h5py.Group:
    """The group holding one subgroup per layer (`model_weights` in full-model saves)."""
    nested = h5.get("model_weights")
    return nested if isinstance(nested, h5py.Group) else h5


def _check_net(root: h5py.Group, net: str, path: Path) -> None:
    """Refuse a file whose conv layers are another VGG's."""
    present = {name for name in root if _LAYER_NAME.fullmatch(name)}
    wanted = {layer.keras_name for layer in conv_layers(net)}
    for other in NETS:
        if other != net and present == {layer.keras_name for layer in conv_layers(other)}:
            raise WeightsError(f"{path} holds {other} weights, not {net}")
    if wanted <= present:
        return
    missing = sorted(wanted - present)
    raise WeightsError(f"{path} is not a Keras {net} weight file: no layer {missing[0]}")


def _kernel_and_bias(root: h5py.Group, layer: ConvLayer, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(kernel OIHW, bias) float32 of one conv layer group, datasets found by name suffix.

    Shapes are checked before any values are read, so a huge declared shape allocates nothing.
    """
    name = layer.keras_name
    _refuse_external_links(root, name, path)
    datasets = _datasets(root[name])
    kernel = _one_dataset(datasets, "kernel", name, path)
    bias = _one_dataset(datasets, "bias", name, path)
    if kernel.ndim != 4 or kernel.shape[:2] != (3, 3):
        raise WeightsError(f"{path}: {name} kernel has shape {kernel.shape}, expected (3, 3, in, out) "
                           "(use the tf_dim_ordering file)")
    hwio = (3, 3, layer.in_channels, layer.out_channels)
    if kernel.shape != hwio or bias.shape != hwio[3:]:
        raise WeightsError(f"{path}: {name} has shape {kernel.shape}/{bias.shape}, expected {hwio}/{hwio[3:]}")
    return np.ascontiguousarray(_values(kernel, path).transpose(3, 2, 0, 1)), _values(bias, path)


def _refuse_external_links(group: h5py.Group, name: str, path: Path) -> None:
    """Refuse, unfollowed, an external link at `group[name]` or anywhere below it: whether or
    not its target exists, the values would come from another file."""
    link = group.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        where = f"{group.name.rstrip('/')}/{name}".lstrip("/")
        raise WeightsError(f"{path}: {where} keeps its values in another file through an external link "
                           f"({link.filename}): refusing to read it")
    member = group.get(name) if isinstance(link, h5py.HardLink) else None
    if isinstance(member, h5py.Group):
        for child in member:
            _refuse_external_links(member, child, path)


def _datasets(group: h5py.Group) -> list[h5py.Dataset]:
    """Every dataset below `group`, at any depth."""
    found: list[h5py.Dataset] = []

    def visit(_: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append(obj)

    group.visititems(visit)
    return found


def _one_dataset(datasets: list[h5py.Dataset], role: str, name: str, path: Path) -> h5py.Dataset:
    """The single dataset of `role` ("kernel" or "bias") among a layer's datasets."""
    found = [ds for ds in datasets if _ROLES[role].search(ds.name.rsplit("/", 1)[-1].split(":")[0])]
    if len(found) != 1:
        names = ", ".join(ds.name for ds in datasets) or "none"
        raise WeightsError(f"{path}: cannot find one {role} for {name} among datasets: {names}")
    return found[0]


def _values(dataset: h5py.Dataset, path: Path) -> np.ndarray:
    """The float32 values of a dataset stored in `path` itself; anything else is refused unread."""
    where = _storage_elsewhere(dataset, path)
    if where is not None:
        raise WeightsError(f"{path}: dataset {dataset.name.lstrip('/')} keeps its values in {where}: "
                           "refusing to read it")
    if dataset.dtype.kind != "f":
        raise WeightsError(f"{path}: dataset {dataset.name.lstrip('/')} holds {dataset.dtype} values, not floats")
    return np.asarray(dataset[()], dtype=np.float32)


def _storage_elsewhere(dataset: h5py.Dataset, path: Path) -> str | None:
    """Where the values of `dataset` live when that is not inside `path` (None when they are):
    HDF5 external storage (raw bytes of any file), a virtual dataset, or an external link."""
    if dataset.external:
        return f"an external file ({', '.join(str(name) for name, _, _ in dataset.external)})"
    if dataset.is_virtual:
        sources = sorted({source.file_name for source in dataset.virtual_sources()})
        return f"other files as a virtual dataset ({', '.join(sources)})"
    if not os.path.samefile(dataset.file.filename, path):
        return f"another file through an external link ({dataset.file.filename})"
    return None
