"""Locks that keep two nst-ort runs off one output or run folder.

A lock is the operating system's file lock (flock on POSIX, msvcrt on Windows) on a small
file in a per-user lock folder, named by a hash of the locked path (resolved, so links and
relative names meet). It goes with its process: a crash or SIGKILL releases it, and nothing
is written beside the user's files. Lock files are never removed (that would race with a
process about to lock them); they are a few bytes each in the temp folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from nst_base.errors import NstError

LOCK_DIR_ENV = "NST_LOCK_DIR"  # where lock files go (default: the temp folder)


def lock_folder() -> Path:
    configured = os.environ.get(LOCK_DIR_ENV)
    if configured:
        return Path(configured)
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"nst-ort-locks-{user}"


def _lock_name(path: Path) -> str:
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24] + ".lock"


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on `fd` without waiting; False if another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class PathLocks:
    """Exclusive locks on several paths, held until `release` (or the process ends).

    `acquire` takes all of them or none: a path another nst-ort process holds is a one-line
    NstError naming it and that process (its pid, and the `note` it locked with, e.g. where
    a server listens).
    """

    def __init__(self, paths: Iterable[Path], folder: Path | None = None, note: str = "") -> None:
        self.paths = list(dict.fromkeys(Path(p).resolve() for p in paths))
        self.folder = folder if folder is not None else lock_folder()
        self.note = " ".join(note.split())  # one line
        self._held: list[int] = []

    def acquire(self) -> PathLocks:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise NstError(f"cannot create the lock folder {self.folder} ({error.strerror}): "
                           f"set {LOCK_DIR_ENV} to a writable folder") from None
        for path in self.paths:
            lock_file = self.folder / _lock_name(path)
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            if not _try_lock(fd):
                holder = os.read(fd, 512).decode(errors="replace").strip() or "?"
                os.close(fd)
                self.release()
                raise NstError(f"{path} is in use by another nst-ort run (process {holder}): "
                               f"wait for it to finish or stop it first")
            os.ftruncate(fd, 0)
            os.write(fd, (f"{os.getpid()}: {self.note}" if self.note else str(os.getpid())).encode()[:512])
            self._held.append(fd)
        return self

    def release(self) -> None:
        for fd in self._held:
            os.close(fd)  # closing the file releases its lock
        self._held.clear()

    def __enter__(self) -> PathLocks:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()
