"""Where a run is: the level under way and how far it got, as named arrays (one .npz).

The level loop hands its state to a CheckpointSink as it goes; a run folder's Checkpointer
(jobs/run_folder.py) is the one that keeps it on disk.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from nst_ort.core.optimize import Progress, Snapshot

METHOD_PREFIX = "method/"


@dataclass(frozen=True)
class Checkpoint:
    """Where a run is: the level under way and how far it got."""

    level: int  # index of the level under way
    start: np.ndarray | None  # the previous level's best image (None at level 0: the seeded start)
    snapshot: Snapshot | None  # the level's loop state; None: the level has not done an iteration
    history: tuple[Progress, ...]  # the earlier levels' iterations
    evaluations: int  # by the earlier levels
    seconds: float  # spent on the earlier levels, over every session
    energy: tuple[float, float | None] = (0.0, 0.0)  # CPU seconds and joules (None: not measured) so far

    @property
    def position(self) -> tuple[int, int]:
        """(level, iterations done in it), 1-based level as in Progress."""
        return self.level + 1, len(self.snapshot.history) if self.snapshot else 0


def _progress(data: dict) -> Progress:
    return Progress(**{**data, "size": tuple(data["size"])})


def encode(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    """The checkpoint as named arrays (one .npz), scalars and history in a JSON 'meta' entry."""
    meta = {"level": checkpoint.level, "evaluations": checkpoint.evaluations, "seconds": checkpoint.seconds,
            "history": [asdict(p) for p in checkpoint.history], "energy": list(checkpoint.energy)}
    arrays: dict[str, np.ndarray] = {}
    if checkpoint.start is not None:
        arrays["start"] = checkpoint.start
    if (snapshot := checkpoint.snapshot) is not None:
        meta["snapshot"] = {"best_loss": snapshot.best_loss, "evaluations": snapshot.evaluations,
                            "elapsed": snapshot.elapsed, "history": [asdict(p) for p in snapshot.history]}
        arrays["best_image"] = snapshot.best_image
        arrays.update({METHOD_PREFIX + name: np.asarray(value) for name, value in snapshot.method.items()})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return arrays


def decode(arrays: dict[str, np.ndarray]) -> Checkpoint:
    meta = json.loads(arrays["meta"].tobytes().decode())
    snapshot = None
    if "snapshot" in meta:
        info = meta["snapshot"]
        method = {name[len(METHOD_PREFIX):]: value for name, value in arrays.items() if name.startswith(METHOD_PREFIX)}
        snapshot = Snapshot(method, arrays["best_image"], float(info["best_loss"]), int(info["evaluations"]),
                            float(info["elapsed"]), tuple(_progress(p) for p in info["history"]))
    cpu, joules = meta.get("energy", (0.0, None))  # written before energy was kept: not measured
    return Checkpoint(int(meta["level"]), arrays.get("start"), snapshot, tuple(_progress(p) for p in meta["history"]),
                      int(meta["evaluations"]), float(meta["seconds"]),
                      (float(cpu), None if joules is None else float(joules)))


class CheckpointSink(Protocol):
    """What the level loop hands its state to (jobs/run_folder.py's Checkpointer)."""

    def update(self, checkpoint: Checkpoint) -> None: ...

    def flush(self) -> None: ...

    def summary(self) -> dict: ...
