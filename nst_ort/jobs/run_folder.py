"""Run folders: a long run's state on disk, so it survives signals, crashes and reboots.

A run folder holds
  run.json        what the run is, written once: the job (inputs, resolved settings,
                  outputs), checksums of the input files and of the exported model;
  checkpoint.npz  where the run is, replaced atomically: the level under way, the
                  optimiser's state, the best image, the loss history (nothing that can be
                  recomputed, such as the targets);
  frames/         GIF frames recorded so far, when a GIF is asked for.
A crash or SIGKILL while a checkpoint is written leaves the previous one intact (temp file,
fsync, rename). The folder is removed when its run finishes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nst_base.checksums import sha256_file
from nst_base.errors import NstError
from nst_base.files import atomic_dir, atomic_file, describe_os_error
from nst_ort.core.checkpoint import Checkpoint, decode, encode
from nst_ort.jobs.job import RUN_FILE

KIND = "nst-ort run"
FORMAT = 1
CHECKPOINT_FILE = "checkpoint.npz"
FRAMES = "frames"
RUN_FRAME = re.compile(r"(\d{2}_)?\d{6}\.png|\.\S+\.png\.tmp")  # GIF and video frames kept in frames/, strays
STRAY = re.compile(r"\.(run|checkpoint)\..+\.tmp")  # left by a write that was killed
MADE_FOLDER = "made_folder"  # run.json: the run created its folder
OVERHEAD = 0.02  # the largest share of a run's time spent writing checkpoints


def fingerprint(paths: list[Path]) -> dict[str, str]:
    """sha256 of each input file, keyed by its absolute path."""
    return {str(Path(path).absolute()): sha256_file(Path(path)) for path in paths}


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def checkpoint_file(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def frames(self) -> Path:
        return self.path / FRAMES

    def exists(self) -> bool:
        return self.run_file.is_file()

    def check_usable(self, advice: str = "move it, or give another folder with --checkpoint DIR") -> None:
        """A run folder is new, empty, or one nst-ort made for a run (its run.json): never a
        folder of the user's, since a finished run removes what it kept there."""
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise NstError(f"the run folder {self.path} is a file: {advice}")
        if self.is_ours() or all(STRAY.fullmatch(entry.name) for entry in self.path.iterdir()):
            return
        raise NstError(f"the run folder {self.path} holds files nst-ort did not write: {advice} (a finished run "
                       f"removes what it kept in its run folder)")

    def is_ours(self) -> bool:
        """Whether run.json says nst-ort keeps a run here."""
        try:
            data = json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("kind") == KIND

    def made_by_a_run(self) -> bool:
        """Whether run.json says an nst-ort run created this folder (a run started over in it, after
        a stop before its first checkpoint, removes it in the end as the first would have)."""
        try:
            data = json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("kind") == KIND and data.get(MADE_FOLDER) is True

    def create(self, job: dict) -> None:
        """Describe the job in the folder (a previous run's checkpoint in it is dropped); run.json
        records whether the folder was made for the run (then it goes when the run ends)."""
        self.check_usable()
        made = not self.path.exists() or self.made_by_a_run()
        text = json.dumps({"kind": KIND, "format": FORMAT, MADE_FOLDER: made, **job}, indent=1) + "\n"
        if not self.path.exists():  # the folder and its run.json appear at once: a stop between leaves neither
            with atomic_dir(self.path) as fresh:
                (fresh / RUN_FILE).write_text(text)
            return
        self.checkpoint_file.unlink(missing_ok=True)
        with atomic_file(self.run_file) as tmp:
            tmp.write_text(text)

    def job(self) -> dict:
        """The job this folder runs; one line if it is not a run folder or is corrupt."""
        if not self.path.is_dir():
            raise NstError(f"{self.path} is not a folder")
        try:
            data = json.loads(self.run_file.read_text())
        except FileNotFoundError:
            raise NstError(f"{self.path} is not an nst-ort run folder (no {RUN_FILE})") from None
        except (OSError, ValueError) as error:
            raise NstError(f"{self.run_file} is corrupt ({type(error).__name__}): cannot resume") from None
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise NstError(f"{self.path} is not an nst-ort run folder")
        if data.get("format") != FORMAT:
            raise NstError(f"{self.path} was written by another nst-ort version (run format {data.get('format')}, "
                           f"need {FORMAT}): cannot resume")
        return data

    def write(self, checkpoint: Checkpoint) -> float:
        """Replace the checkpoint atomically (temp file, fsync, rename); returns the seconds it took."""
        started = time.perf_counter()
        with atomic_file(self.checkpoint_file) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **encode(checkpoint))
                handle.flush()
                os.fsync(handle.fileno())
        _fsync_folder(self.path)
        return time.perf_counter() - started

    def read(self) -> Checkpoint | None:
        """The latest checkpoint (None if the run stopped before writing one)."""
        if not self.checkpoint_file.exists():
            return None
        try:
            with np.load(self.checkpoint_file, allow_pickle=False) as archive:
                return decode({name: archive[name] for name in archive.files})
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as error:
            raise NstError(f"{self.checkpoint_file} is corrupt ({type(error).__name__}): cannot resume; "
                           f"remove {self.path} to start over") from None

    def clear(self) -> None:
        """Remove what a run kept here (its files by name, never anything else), and the folder
        itself when the run made it and nothing else is left in it. A folder that is not a run
        folder is left as it is."""
        if not self.path.is_dir() or not self.is_ours():
            return
        made = self.made_by_a_run()
        for stray in self.path.iterdir():
            if STRAY.fullmatch(stray.name):
                stray.unlink(missing_ok=True)
        if self.frames.is_dir():
            for frame in self.frames.iterdir():
                if RUN_FRAME.fullmatch(frame.name):
                    frame.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.frames.rmdir()  # only if empty
        self.checkpoint_file.unlink(missing_ok=True)
        self.run_file.unlink(missing_ok=True)  # last: the folder is a run folder until here
        if made:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only if empty


STATE_DIR_ENV = "NST_STATE_DIR"  # where a run keeps its state when its own run folder cannot be written


def spare_run_folder(name: str) -> Path:
    """A new run folder in the user's state folder ($NST_STATE_DIR, else $XDG_STATE_HOME/nst-ort
    or ~/.local/state/nst-ort; %LOCALAPPDATA%\\nst-ort on Windows), for a run whose own folder
    went away: `name` and the time, so nothing there is replaced."""
    if env := os.environ.get(STATE_DIR_ENV):
        base = Path(env)
    elif os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"]) / "nst-ort"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "nst-ort"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = base / "runs" / f"{name}-{stamp}"
    counter = 1
    while folder.exists():
        counter += 1
        folder = base / "runs" / f"{name}-{stamp}-{counter}"
    return folder


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Checkpointer:
    """Keeps the latest Checkpoint and writes it every `every` seconds and on `flush`.

    Writing never takes more than OVERHEAD of the run's time: after a slow write (a print-size
    L-BFGS history is gigabytes) the next one waits longer. `open` creates the folder and its
run.json when the run starts; the run removes them when it finishes. A write
    that fails (a full disk) is reported through `notify` and the run goes on: its image is
    worth more than its checkpoint.
    """

    def __init__(self, folder: RunFolder, job: dict, every: float, clock=time.monotonic,
                 notify: Callable[[str], None] = lambda message: None) -> None:
        self.folder, self.job, self.every, self.clock, self.notify = folder, job, every, clock, notify
        self.latest: Checkpoint | None = None
        self.last_write = clock()
        self.writes: list[float] = []  # seconds each write took
        self.created = folder.exists()

    @property
    def interval(self) -> float:
        return max(self.every, self.writes[-1] / OVERHEAD if self.writes else 0.0)

    def update(self, checkpoint: Checkpoint) -> None:
        self.latest = checkpoint
        if self.clock() - self.last_write >= self.interval:
            self.flush()

    def summary(self) -> dict:
        path = self.folder.checkpoint_file
        return {"folder": str(self.folder.path), "writes": len(self.writes), "seconds": sum(self.writes),
                "bytes": path.stat().st_size if path.is_file() else 0}

    def open(self) -> None:
        """Create the run folder and describe the job in it now (before anything else is kept there)."""
        if not self.created:
            self.folder.create(self.job)
            self.created = True

    def keep(self) -> bool:
        """Write the latest state now; whether it is on disk."""
        written = len(self.writes)
        self.flush()
        return len(self.writes) > written

    def keep_in(self, folder: RunFolder) -> bool:
        """Write the latest state into another (new) run folder: its own one is gone; whether it is on disk."""
        self.folder, self.created = folder, False
        return self.keep()

    def flush(self) -> None:
        if self.latest is None:
            return
        try:
            self.open()
            self.writes.append(self.folder.write(self.latest))
        except (NstError, OSError) as error:
            reason = describe_os_error(error, self.folder.path) if isinstance(error, OSError) else str(error)
            self.notify(f"warning: checkpoint not written ({reason}); the run goes on")
        self.last_write = self.clock()
