"""Versions of the packages a result depends on, for manifests and reports."""

from __future__ import annotations

import importlib.metadata
import platform

PACKAGES = ("nst-ort", "onnx", "onnxruntime", "onnxruntime-training-cpu", "numpy", "scipy", "pillow")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
