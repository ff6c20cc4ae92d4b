"""Versions of the packages a result depends on, for manifests and reports."""

from __future__ import annotations

import importlib.metadata
import platform

PACKAGES = ("nst-ort", "onnx", "onnxruntime", "onnxruntime-training-cpu", "numpy", "scipy", "pillow")

NST_ORT_VERSION = "0.1.0"  # the distribution's version (pyproject.toml reads it here)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
