"""The one place that imports onnxruntime's training API.

`import onnxruntime.training` runs a package __init__ that imports torch. The training API
(`artifacts`, `api`) needs no torch, so the package is registered in sys.modules as a bare
namespace pointing at the installed folder before its submodules are imported.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from types import ModuleType

from nst_base.errors import NstError

PACKAGE = "onnxruntime.training"
INSTALL_HINT = "pip install onnxruntime-training-cpu==1.19.2 (CPython 3.8-3.12, x86_64/macOS/Windows)"


def _training_folder() -> Path | None:
    import onnxruntime

    folder = Path(onnxruntime.__file__).parent / "training"
    return folder if (folder / "api").is_dir() else None


def available() -> bool:
    try:
        return _training_folder() is not None
    except ImportError:
        return False


def load(submodule: str) -> ModuleType:
    """Import `onnxruntime.training.<submodule>` ("api" or "artifacts") without torch."""
    if PACKAGE not in sys.modules:
        folder = _training_folder()
        if folder is None:
            raise NstError(f"the training engine needs onnxruntime-training-cpu: {INSTALL_HINT}")
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(folder)]
        sys.modules[PACKAGE] = package
    return importlib.import_module(f"{PACKAGE}.{submodule}")
