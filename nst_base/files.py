"""Atomic writes: a temp file or folder beside the target, then one rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from nst_base.errors import NstError


def describe_os_error(error: OSError, path: Path) -> str:
    reason = {28: "no space left on device", 13: "permission denied", 30: "read-only file system"}
    return f"cannot write {path}: {reason.get(error.errno, error.strerror or str(error))}"


def check_writable_location(path: Path) -> None:
    """Refuse at once a `path` that could not be written: an existing ancestor that is a file,
    a folder without write permission, a read-only or full file system (a probe file is
    created and removed in the nearest existing folder)."""
    path = Path(path)
    for ancestor in path.absolute().parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise NstError(f"cannot write {path}: {ancestor} is a file, not a folder")
            _probe_write(ancestor, path)
            return


def _probe_write(folder: Path, target: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".nst-probe.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise NstError(describe_os_error(error, target)) from None
    try:
        os.write(fd, b"\0")
    except OSError as error:
        raise NstError(describe_os_error(error, target)) from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temp path in the target's folder; rename it onto `path` only on success."""
    path = Path(path)
    check_writable_location(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
        os.close(fd)
    except OSError as error:
        raise NstError(describe_os_error(error, path)) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
        os.replace(tmp_path, path)
    except OSError as error:
        raise NstError(describe_os_error(error, path)) from None
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path, keep_existing: bool = False,
               replaceable: Callable[[Path], bool] = lambda folder: False) -> Iterator[Path]:
    """Yield a fresh temp folder beside `path`; it becomes `path` only on success.

    An existing `path` is replaced only where `replaceable(path)` says nst-ort made it (a
    model folder with its manifest); any other is refused before the work. With
    `keep_existing`, a `path` that appeared meanwhile (another process built the same cache
    entry) is kept and the new folder dropped: the two are equivalent.
    """
    path = Path(path)
    check_writable_location(path)
    if path.exists() and not keep_existing and not (path.is_dir() and replaceable(path)):
        raise NstError(f"{path} exists and was not made by nst-ort: refusing to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; outputs get the usual mode
    except OSError as error:
        raise NstError(describe_os_error(error, path)) from None
    try:
        yield tmp
        if keep_existing:
            try:
                os.rename(tmp, path)  # refused if another process's folder is already there
            except OSError:
                if not path.is_dir():
                    raise
            return
        old = tmp.with_suffix(".old")  # unique: named after the temp folder
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        raise NstError(describe_os_error(error, path)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
