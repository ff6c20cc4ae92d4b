"""A studio run's progress as the page sees it: an event per iteration, its record's progress
at most once a second, and a preview picture every few seconds (whether or not a page
watches), written atomically; the page's stop request raised where the run can keep its best
image."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from nst_base.files import atomic_file
from nst_ort.core.optimize import Progress
from nst_ort.io.images import to_image
from nst_ort.jobs.lifecycle import StopRequested
from nst_ort.options.clock import format_seconds

from nst_ort.studio.workspace import Workspace

PREVIEW_SIDE = 640
SAVE_SECONDS = 1.0  # the run's progress written to its record at most this often


class Queue(Protocol):
    """What a preview reporter needs of the studio's queue (studio.py's Studio)."""

    workspace: Workspace
    preview_seconds: float
    stopping: threading.Event

    def publish(self, run_id: str, event: dict) -> None: ...


class PreviewReporter:
    """Progress of a studio run: an event per iteration, a preview image every few seconds,
    the stop the page asked for."""

    def __init__(self, studio: Queue, run_id: str, folder: Path) -> None:
        self.studio, self.run_id, self.folder = studio, run_id, folder
        self.last_preview = self.last_saved = 0.0

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        studio = self.studio
        if studio.stopping.is_set():
            raise StopRequested
        event = {"event": "progress", "level": progress.level, "levels": progress.levels,
                 "iteration": progress.iteration, "iterations": progress.iterations, "loss": progress.loss,
                 "elapsed": format_seconds(progress.run_seconds or progress.elapsed), "eta": format_seconds(progress.eta),
                 "preview": False}
        now = time.monotonic()
        if now - self.last_preview >= studio.preview_seconds:  # whether or not a page watches
            self.last_preview = now
            self._write_preview(pixels)
            event["preview"] = True
        if now - self.last_saved >= SAVE_SECONDS or progress.iteration == progress.iterations:
            self.last_saved = now  # the history's progress, at most once a second
            studio.workspace.update(self.run_id, progress={k: v for k, v in event.items() if k != "event"})
        studio.publish(self.run_id, event)

    def _write_preview(self, pixels: np.ndarray) -> None:
        image = to_image(pixels)
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        with atomic_file(self.folder / "preview.jpg") as tmp:
            image.save(tmp, format="JPEG", quality=85)
