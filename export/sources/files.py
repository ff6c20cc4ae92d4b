"""Read a user's VGG weight file (.h5, .pth or .onnx), recognised by its content."""

from __future__ import annotations

from pathlib import Path

from export.sources.keras_h5 import read_keras_h5
from export.sources.onnx_vgg import read_onnx_vgg
from export.sources.torch_pth import LEGACY_MAGIC, read_torchvision_pth
from export.weights import WeightsError, WeightSet

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
ONNX_FIRST_BYTE = 0x08  # ModelProto field 1 (ir_version), varint: every ONNX writer puts it first


def read_weight_file(path: Path, net: str) -> WeightSet:
    """Conv weights of `net` from a Keras .h5, torchvision .pth or ONNX VGG file."""
    path = Path(path)
    head = _head(path)
    if head.startswith(HDF5_MAGIC):
        return read_keras_h5(path, net)
    if head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_MAGIC):
        return read_torchvision_pth(path, net)
    if head[0] == ONNX_FIRST_BYTE or path.suffix.lower() == ".onnx":
        return read_onnx_vgg(path, net)
    raise WeightsError(f"{path} is not a Keras VGG .h5, torchvision .pth or ONNX VGG file")


def _head(path: Path) -> bytes:
    """The first bytes of a non-empty file; a missing, empty or unreadable file is a WeightsError."""
    if not path.exists():
        raise WeightsError(f"weights file not found: {path}")
    if not path.is_file():
        raise WeightsError(f"weights path is not a file: {path}")
    try:
        with open(path, "rb") as stream:
            head = stream.read(len(LEGACY_MAGIC))
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc.strerror or exc}") from exc
    if not head:
        raise WeightsError(f"weights file is empty: {path}")
    return head
