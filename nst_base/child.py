"""A function run in a fresh Python process, so the memory it takes goes back when it ends.

Building a gradient graph holds the network's weights several times over (numpy arrays, their
Winograd transforms, the ONNX protos and their serialisation): 1.6 GB for VGG16, more than a
whole 533x400 run needs. Built in the run's own process, that would be the run's peak, above
its memory plan; in a child it is gone before the run's work starts. A subprocess (not
multiprocessing): it works from any process, a Dask worker or the studio's server included.

    run_in_child(write_model, path, layers)   # write_model: a module-level function

The arguments travel pickled on stdin; a failure comes back as a RuntimeError with the child's
last line of stderr.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable


def run_in_child(function: Callable[..., None], *args: object) -> None:
    """`function(*args)` in a fresh interpreter with this one's import path; waits for it."""
    payload = pickle.dumps((function.__module__, function.__qualname__, args))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    done = subprocess.run([sys.executable, "-m", __name__], input=payload, capture_output=True, env=env)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit status {done.returncode}")


def _main() -> None:
    module, name, args = pickle.loads(sys.stdin.buffer.read())
    getattr(importlib.import_module(module), name)(*args)


if __name__ == "__main__":
    _main()
