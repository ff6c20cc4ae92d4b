"""Video: stylise a clip frame by frame with temporal consistency (Ruder et al. 2016).

frames.py reads and writes clips (PyAV), flow.py computes optical flow (OpenCV DIS), warps and
finds occlusions, temporal.py adds the temporal term to any engine, run.py drives the frames
with a folder of finished frames so an interrupted video continues where it stopped. PyAV and
OpenCV come with the optional extra `nst-ort[video]`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from nst_base.errors import NstError

EXTRA_HINT = "pip install 'nst-ort[video]'"


def require(module: str) -> ModuleType:
    """Import a video dependency, or stop with one line naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise NstError(f"nst video needs the video extra ({module} is missing): {EXTRA_HINT}") from None
