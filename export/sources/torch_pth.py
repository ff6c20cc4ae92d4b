"""Read torchvision VGG state dicts (`vgg16-397923af.pth`, `vgg19-dcbb9e9d.pth`) without torch.

Two layouts are read:

* torch>=1.6 zip: `<archive>/data.pkl` is the pickled state dict and `<archive>/data/<key>`
  holds each tensor's raw storage.
* torch<1.6 "legacy" file (the official torchvision VGG files of 2017): one stream of pickles,
  (1) the magic number, (2) the protocol version 1001, (3) a sys_info dict, (4) the state dict,
  whose tensors name storages `('storage', type, root_key, location, numel, view)`, (5) the list
  of storage keys, then per key an int64 little-endian element count and the raw elements.

Every pickle is read by a restricted unpickler that knows only the few names a state dict uses
and refuses everything else, so no code from the file ever runs. Storages are read only for the
conv tensors; in a legacy file the others are stepped over, their counts checked against the
file size. Very old tar-format files (torch<0.4) are refused.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from export.weights import TORCHVISION, WeightsError, WeightSet
from nst_base.checksums import sha256_file
from nst_graphs.networks import NETS, conv_layers

# torch<1.6 files start with the pickled torch magic number 0x1950a86a20f9469cfc6c
LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
_ZIP_MAGIC = b"PK\x03\x04"
_TAR_MAGIC_AT, _TAR_MAGIC = 257, b"ustar"  # POSIX/PAX tar header (torch's tar files are PAX)
_STORAGE_DTYPES = {
    "FloatStorage": "f4", "HalfStorage": "f2", "DoubleStorage": "f8", "BFloat16Storage": "bfloat16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}
_CONV_WEIGHT = re.compile(r"features\.(\d+)\.weight")


@dataclass(frozen=True)
class _StorageType:
    """Stands in for a `torch.<X>Storage` class named by the pickle."""

    name: str
    dtype: str  # numpy type code without byte order, or "bfloat16"


@dataclass(frozen=True)
class _StorageRef:
    """A storage named by the pickle; its bytes are read from the file only when needed.

    `start` is where the storage begins inside the root storage `key`, in elements: nonzero
    only for the storage views of legacy files.
    """

    key: str
    storage_type: _StorageType
    numel: int
    start: int = 0


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it: a strided view of a storage."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage: object, storage_offset: int, size: tuple, stride: tuple,
                       *_flags: object) -> _TensorRef:
    """Stand-in for `torch._utils._rebuild_tensor_v2` (requires_grad, hooks, metadata ignored)."""
    if not isinstance(storage, _StorageRef):
        raise WeightsError(f"malformed tensor record (storage is {type(storage).__name__})")
    return _TensorRef(storage, int(storage_offset), tuple(int(n) for n in size), tuple(int(s) for s in stride))


def _rebuild_tensor(storage: object, storage_offset: int, size: tuple, stride: tuple) -> _TensorRef:
    """Stand-in for `torch._utils._rebuild_tensor`, what torch<0.4 pickled a tensor as."""
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data: object, *_flags: object) -> object:
    """Stand-in for `torch._utils._rebuild_parameter`: a parameter is its tensor."""
    return data


def _torch_size(dims: object = ()) -> tuple:
    """Stand-in for `torch.Size`, a tuple of ints."""
    return tuple(int(n) for n in dims)  # type: ignore[union-attr]


_SAFE_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): _torch_size,
    # storages saved from the GPU have the same bytes; they are read on the CPU
    **{(module, name): _StorageType(name, dtype)
       for name, dtype in _STORAGE_DTYPES.items() for module in ("torch", "torch.cuda")},
}


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the names of `_SAFE_GLOBALS`; storages become `_StorageRef`s.

    legacy=False reads the zip layout's 5-tuple storage records, legacy=True the 6-tuple records
    (with storage views) of legacy files; `roots` collects the root storages the pickle named.
    """

    def __init__(self, stream: BinaryIO, path: Path, legacy: bool = False) -> None:
        super().__init__(stream, encoding="utf-8")  # like torch.load: Python 2 str is utf-8
        self._path = path
        self._legacy = legacy
        self.roots: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> object:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise WeightsError(f"refusing to load {self._path}: it asks to run code ({module}.{name})") from None

    def persistent_load(self, pid: object) -> _StorageRef:
        fields = 6 if self._legacy else 5
        if not (isinstance(pid, tuple) and len(pid) == fields and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise WeightsError(f"{self._path}: unexpected storage record {str(pid)[:80]}")
        if not self._legacy:
            _, storage_type, key, _location, numel = pid
            return _StorageRef(str(key), storage_type, int(numel))
        _, storage_type, key, _location, numel, view = pid
        root = self._root(str(key), storage_type, _count(numel, self._path))
        if view is None:
            return root
        if not (isinstance(view, tuple) and len(view) == 3):
            raise WeightsError(f"{self._path}: unexpected storage view record {str(view)[:80]}")
        start, view_numel = _count(view[1], self._path), _count(view[2], self._path)
        if start + view_numel > root.numel:
            raise WeightsError(f"{self._path}: a storage view reaches past the end of its storage")
        return _StorageRef(root.key, storage_type, view_numel, start)

    def _root(self, key: str, storage_type: _StorageType, numel: int) -> _StorageRef:
        root = self.roots.setdefault(key, _StorageRef(key, storage_type, numel))
        if root != _StorageRef(key, storage_type, numel):
            raise WeightsError(f"{self._path}: storage {key} is recorded twice with different types or sizes")
        return root


def _count(value: object, path: Path) -> int:
    """A non-negative int from a storage record."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WeightsError(f"{path}: malformed storage record (count {str(value)[:40]})")
    return value


def torchvision_conv_indices(net: str) -> list[int]:
    """Positions of the convs in torchvision's `features` Sequential: conv, ReLU, ..., pool per block."""
    indices: list[int] = []
    position, block = 0, 1
    for layer in conv_layers(net):
        if layer.block != block:
            position, block = position + 1, layer.block  # the block's max pool
        indices.append(position)
        position += 2  # conv and its ReLU
    return indices


def read_torchvision_pth(path: Path, net: str) -> WeightSet:
    """Conv weights of `net` from a torchvision VGG state dict (.pth zip or legacy), never running its pickle."""
    path = Path(path)
    indices = torchvision_conv_indices(net)
    head = _head(path)
    if head[_TAR_MAGIC_AT:_TAR_MAGIC_AT + len(_TAR_MAGIC)] == _TAR_MAGIC:
        raise WeightsError(f"{path}: very old tar-format .pth (torch<0.4) is not supported; "
                           "load and re-save it with a newer torch")
    legacy = head.startswith(b"\x80") and not head.startswith(_ZIP_MAGIC)  # a pickle, not a zip
    kernels, biases = (_read_legacy if legacy else _read_zip)(path, net, indices)
    return WeightSet(net=net, kernels=kernels, biases=biases, preprocessing=TORCHVISION,
                     source=f"torchvision-pth:{path.resolve()}", sha256=sha256_file(path))


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read(512)
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from exc


# ---------------------------------------------------------------- torch>=1.6 zip

def _read_zip(path: Path, net: str, indices: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Conv kernels and biases at `features.<indices>` of a torch>=1.6 zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = _archive_prefix(archive, path)
            data = io.BytesIO(archive.read(f"{prefix}data.pkl"))
            state = _unpickle_state_dict(_StateDictUnpickler(data, path), path)
            _check_layout(state, net, path)
            order = _byte_order(archive, prefix)

            def tensor(key: str) -> np.ndarray:
                return _read_tensor(archive, prefix, state[key], order, path)

            return [tensor(f"features.{i}.weight") for i in indices], [tensor(f"features.{i}.bias") for i in indices]
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise WeightsError(f"cannot read {path} as a zip archive (truncated or damaged?): {exc}") from exc


def _archive_prefix(archive: zipfile.ZipFile, path: Path) -> str:
    """The `<archive>/` folder that holds data.pkl."""
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise WeightsError(f"{path} is a zip but not a torch .pth file (no single <archive>/data.pkl)")
    return pickles[0][: -len("data.pkl")]


def _unpickle_state_dict(unpickler: _StateDictUnpickler, path: Path) -> dict:
    """The state dict the unpickler reads, as {key: _TensorRef}."""
    try:
        state = unpickler.load()
    except WeightsError:
        raise
    except Exception as exc:  # any failure of untrusted pickle data is a damaged file
        raise WeightsError(f"{path}: truncated or damaged state dict pickle ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint wrapping the state dict
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def _check_layout(state: dict, net: str, path: Path) -> None:
    """Refuse batch-norm VGGs, the other VGG, and anything that is not a torchvision VGG."""
    if any(str(key).endswith("running_mean") for key in state):
        raise WeightsError(f"{path} is a batch-normalised VGG (vgg*_bn), which is not supported")
    found = sorted(int(match.group(1)) for key in state
                   if (match := _CONV_WEIGHT.fullmatch(str(key))) and isinstance(state[key], _TensorRef)
                   and len(state[key].size) == 4)
    for other in NETS:
        if other != net and found == torchvision_conv_indices(other):
            raise WeightsError(f"{path} holds {other} weights, not {net}")
    expected = torchvision_conv_indices(net)
    missing = [key for i in expected for key in (f"features.{i}.weight", f"features.{i}.bias")
               if not isinstance(state.get(key), _TensorRef)]
    if missing:
        raise WeightsError(f"{path} is not a torchvision {net} state dict: no tensor {missing[0]}")
    if found != expected:
        raise WeightsError(f"{path} is not a torchvision {net} state dict: conv layers at features.{found}")


def _byte_order(archive: zipfile.ZipFile, prefix: str) -> str:
    """'<' or '>' from `<archive>/byteorder` (absent: little-endian)."""
    try:
        recorded = archive.read(f"{prefix}byteorder").strip()
    except KeyError:
        return "<"
    return ">" if recorded == b"big" else "<"


def _read_tensor(archive: zipfile.ZipFile, prefix: str, ref: _TensorRef, order: str, path: Path) -> np.ndarray:
    """The float32 array `ref` describes, read from its storage in the zip."""
    storage = ref.storage
    name = f"{prefix}data/{storage.key}"
    try:
        raw = archive.read(name)
    except KeyError:
        raise WeightsError(f"{path}: missing tensor storage {name}") from None
    flat = _decode(raw, storage.storage_type, order, storage.numel, path)
    return _strided_copy(flat, ref, path)


# ---------------------------------------------------------------- torch<1.6 legacy stream

def _read_legacy(path: Path, net: str, indices: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Conv kernels and biases at `features.<indices>` of a torch<1.6 legacy file."""
    try:
        with open(path, "rb") as stream:
            file_size = os.fstat(stream.fileno()).st_size
            if _load_plain(stream, path, "magic number") != LEGACY_MAGIC_NUMBER:
                raise WeightsError(f"{path} is not a torch .pth file (neither a zip nor the torch magic number)")
            version = _load_plain(stream, path, "protocol version")
            if version != LEGACY_PROTOCOL_VERSION:
                raise WeightsError(f"{path}: unknown legacy .pth protocol version {str(version)[:40]}")
            sys_info = _load_plain(stream, path, "sys_info")
            if not isinstance(sys_info, dict):
                raise WeightsError(f"{path}: damaged legacy .pth (sys_info is a {type(sys_info).__name__})")
            if sys_info.get("little_endian", True) is not True:
                # torch wrote such storages in native order before 2020, little-endian after: ambiguous
                raise WeightsError(f"{path} was saved on a big-endian machine, which is not supported; "
                                   "re-save it with torch>=1.6")
            unpickler = _StateDictUnpickler(stream, path, legacy=True)
            state = _unpickle_state_dict(unpickler, path)
            _check_layout(state, net, path)
            keys = _load_plain(stream, path, "storage keys")
            located = _locate_storages(stream, file_size, keys, unpickler.roots, path)

            def tensor(key: str) -> np.ndarray:
                return _read_legacy_tensor(stream, located, state[key], path)

            return [tensor(f"features.{i}.weight") for i in indices], [tensor(f"features.{i}.bias") for i in indices]
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _load_plain(stream: BinaryIO, path: Path, what: str) -> object:
    """The next pickle of a legacy file, a plain value (no storages; only `_SAFE_GLOBALS`, no code)."""
    unpickler = _StateDictUnpickler(stream, path, legacy=True)
    try:
        value = unpickler.load()
    except WeightsError:
        raise
    except Exception as exc:  # EOFError, UnpicklingError("pickle data was truncated"), ...
        raise WeightsError(f"{path}: truncated or damaged legacy .pth ({what}: {type(exc).__name__}: {exc})") from exc
    if unpickler.roots:
        raise WeightsError(f"{path}: damaged legacy .pth (storages in the {what})")
    return value


def _itemsize(storage_type: _StorageType) -> int:
    return 2 if storage_type.dtype == "bfloat16" else np.dtype(storage_type.dtype).itemsize


def _locate_storages(stream: BinaryIO, file_size: int, keys: object, roots: dict[str, _StorageRef],
                     path: Path) -> dict[str, int]:
    """File offset of each root storage's first element, stepping over the storages without reading them.

    Each storage is an int64 little-endian element count, which must be the count its record in
    the state dict gives, followed by its elements; none may reach past the end of the file.
    """
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)) or len(set(keys)) != len(keys):
        raise WeightsError(f"{path}: damaged legacy .pth (the storage key list is malformed)")
    located: dict[str, int] = {}
    position = stream.tell()
    for key in keys:
        root = roots.get(key)
        if root is None:
            raise WeightsError(f"{path}: damaged legacy .pth (storage {key[:40]} is not used by the state dict)")
        stream.seek(position)
        header = stream.read(8)
        if len(header) < 8:
            raise WeightsError(f"{path}: legacy .pth is truncated (storage {key} is missing)")
        count = int.from_bytes(header, "little", signed=True)
        if count != root.numel:
            raise WeightsError(f"{path}: damaged legacy .pth (storage {key} holds {count} elements, "
                               f"its record says {root.numel})")
        position += 8
        end = position + count * _itemsize(root.storage_type)
        if end > file_size:
            raise WeightsError(f"{path}: legacy .pth is truncated (storage {key} ends {end - file_size} bytes "
                               "past the end of the file)")
        located[key] = position
        position = end
    return located


def _read_legacy_tensor(stream: BinaryIO, located: dict[str, int], ref: _TensorRef, path: Path) -> np.ndarray:
    """The float32 array `ref` describes, read from its (view of a) storage in the legacy stream."""
    storage = ref.storage
    if storage.key not in located:
        raise WeightsError(f"{path}: missing tensor storage {storage.key}")
    itemsize = _itemsize(storage.storage_type)
    stream.seek(located[storage.key] + storage.start * itemsize)
    raw = stream.read(storage.numel * itemsize)  # within the file: _locate_storages checked it
    flat = _decode(raw, storage.storage_type, "<", storage.numel, path)
    return _strided_copy(flat, ref, path)


# ---------------------------------------------------------------- storages to arrays

def _decode(raw: bytes, storage_type: _StorageType, order: str, numel: int, path: Path) -> np.ndarray:
    """The first `numel` elements of a raw storage."""
    code = "u2" if storage_type.dtype == "bfloat16" else storage_type.dtype
    dtype = np.dtype(code).newbyteorder(order)
    if len(raw) < numel * dtype.itemsize:
        raise WeightsError(f"{path}: a {storage_type.name} is shorter than its {numel} elements")
    flat = np.frombuffer(raw, dtype=dtype, count=numel)
    if storage_type.dtype == "bfloat16":
        return (flat.astype(np.uint32) << 16).view(np.float32)
    return flat


def _strided_copy(flat: np.ndarray, ref: _TensorRef, path: Path) -> np.ndarray:
    """A contiguous float32 copy of the view (offset, size, stride) into `flat`, bounds-checked."""
    size, stride = ref.size, ref.stride
    if len(size) != len(stride) or ref.offset < 0 or min(size + stride, default=0) < 0:
        raise WeightsError(f"{path}: malformed tensor record (size {size}, stride {stride})")
    if 0 in size:
        return np.zeros(size, dtype=np.float32)
    last = ref.offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise WeightsError(f"{path}: a tensor reaches past the end of its storage")
    view = np.lib.stride_tricks.as_strided(flat[ref.offset:], shape=size,
                                           strides=[s * flat.itemsize for s in stride], writeable=False)
    return np.array(view, dtype=np.float32)
