"""Reporters: what happens with each optimiser step outside the core (terminal, files, GIF)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image

from nst_base.files import atomic_file
from nst_ort.io.images import save_image, to_image
from nst_ort.options.clock import format_seconds
from nst_ort.options.defaults import GIF_FRAME_MS
from nst_ort.core.optimize import Progress


def progress_line(p: Progress) -> str:
    scale = f"scale {p.level}/{p.levels} {p.size[0]}x{p.size[1]}  " if p.levels > 1 else ""
    elapsed = f"  elapsed {format_seconds(p.run_seconds)}" if p.run_seconds else ""
    return (f"{scale}iter {p.iteration:>4}/{p.iterations}  loss {p.loss:.4g}  "
            f"{p.seconds_per_iteration:.2f} s/it{elapsed}  ETA {format_seconds(p.eta)}")


@dataclass
class TerminalReporter:
    """One progress line per `every` iterations (rewritten in place on a terminal); inside a
    tiled evaluation, the tiles done (on a terminal as they go, in a log once a minute)."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)  # the one at the time (a test may capture it)
    every: int = 1
    last_line: str = ""
    last_tile_note: float = field(default_factory=time.monotonic)

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        last = progress.iteration == progress.iterations
        self.last_line = progress_line(progress)
        if self.stream.isatty():
            end = "\n" if last else ""
            self.stream.write("\r" + self.last_line + end)
        elif progress.iteration % self.every == 0 or last or progress.iteration == 1:
            self.stream.write(self.last_line + "\n")
        self.stream.flush()

    def tile(self, step: int, done: int, tiles: int) -> None:
        note = f"evaluating: pass {step}/2, tile {done}/{tiles}"
        if self.stream.isatty():
            self.stream.write("\r" + (self.last_line + "  " if self.last_line else "") + note + "\033[K")
        elif time.monotonic() - self.last_tile_note >= 60:
            self.stream.write(note + "\n")
        else:
            return
        self.last_tile_note = time.monotonic()
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")


@dataclass
class SnapshotWriter:
    """Writes the current image to `path` (atomically) every `every` iterations."""

    path: Path
    every: int
    size: tuple[int, int]  # output size (levels and --keep-size differ from the working size)

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        if self.every > 0 and progress.iteration % self.every == 0:
            image = to_image(pixels)
            if image.size != self.size:
                image = image.resize(self.size, Image.Resampling.LANCZOS)
            save_image(image, self.path)


@dataclass
class GifRecorder:
    """Collects a frame every `every` iterations; `write` makes the animated GIF.

    With a `folder` (a run folder's frames/) each frame is also kept on disk, named by its
    level and iteration, so a resumed run keeps the frames recorded before it stopped.
    """

    every: int
    frame_ms: int = GIF_FRAME_MS
    size: tuple[int, int] = (512, 512)  # every frame is fitted into this (levels differ in size)
    max_side: int = 512
    folder: Path | None = None
    frames: list[Image.Image] = field(default_factory=list)

    def frame(self, pixels: np.ndarray) -> Image.Image:
        scale = min(1.0, self.max_side / max(self.size))
        frame_size = (max(1, round(self.size[0] * scale)), max(1, round(self.size[1] * scale)))
        return to_image(pixels).resize(frame_size, Image.Resampling.LANCZOS)

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        if progress.iteration % self.every == 0:
            frame = self.frame(pixels)
            self.frames.append(frame)
            if self.folder is not None:
                save_image(frame, self.folder / f"{progress.level:02d}_{progress.iteration:06d}.png")

    def resume(self, level: int, iteration: int) -> None:
        """Take the frames kept on disk up to (level, iteration); later ones will be recorded again."""
        for path in sorted(self.folder.glob("*.png")) if self.folder is not None else ():
            if tuple(int(part) for part in path.stem.split("_")) <= (level, iteration):
                with Image.open(path) as image:
                    self.frames.append(image.convert("RGB"))
            else:
                path.unlink()

    def write(self, path: Path, final: np.ndarray | None = None) -> None:
        frames = self.frames + ([self.frame(final)] if final is not None else [])
        if not frames:
            return
        with atomic_file(path) as tmp:
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=self.frame_ms, loop=0)


@dataclass
class Reporters:
    """Fans one progress event out to several reporters (tile events to those that show them)."""

    reporters: list = field(default_factory=list)

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        for reporter in self.reporters:
            reporter(progress, pixels)

    def tile(self, step: int, done: int, tiles: int) -> None:
        for reporter in self.reporters:
            if hasattr(reporter, "tile"):
                reporter.tile(step, done, tiles)
