"""What a run may write, checked before any work.

The rule: nst-ort writes and replaces only the output files the user named (atomically,
when the work is done) and the run folders it makes itself; never an input, never a folder
of the user's. Every front end checks its outputs here before it starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from nst_base.errors import NstError
from nst_base.files import check_writable_location


def resolve_output(path: Path) -> Path:
    """An output path as an absolute one, so `.`, `..` and `./x` have a real name."""
    return Path(os.path.abspath(Path(path).expanduser()))


def same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file (through links, or one path that is not there yet)."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_folder(path: Path, option: str = "-o") -> None:
    """An output names a file: not an existing folder, not a path without a name (`/`)."""
    if Path(path).is_dir() or not Path(path).name:
        raise NstError(f"{option} {path} is a folder: give a file name such as {Path(path) / 'out.png'}")


def check_output_file(path: Path, inputs: Iterable[Path], option: str = "-o",
                      suffixes: Iterable[str] | None = None, hint: str = ".png, .jpg or .webp") -> None:
    """Refuse before any work an output that is a folder, cannot be written, has a suffix
    nst-ort cannot write, or is one of the run's inputs."""
    path = Path(path)
    check_not_folder(path, option)
    if suffixes is not None and path.suffix.lower() not in set(suffixes):
        raise NstError(f"{option} {path}: cannot write {path.suffix or 'files without an extension'}; use {hint}")
    check_writable_location(path)
    for source in inputs:
        if same_file(path, source):
            raise NstError(f"{option} {path} is one of the inputs: refusing to overwrite it")


def check_distinct(outputs: dict[str, Path]) -> None:
    """Two outputs of one run may not be one file."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        key = Path(path).resolve()
        if key in seen:
            raise NstError(f"{option} and {seen[key]} are the same file {path}")
        seen[key] = option


def check_own_folder(folder: Path, marker: str, option: str = "-o",
                     ours: Callable[[Path], bool] = lambda entry: True) -> None:
    """Refuse before any work an output folder nst-ort may not write into: it must be new,
    empty, or hold the `marker` file nst-ort leaves in the folders it writes, and only
    entries `ours` accepts."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise NstError(f"{option} {folder} is a file: give a folder")
    entries = sorted(folder.iterdir())
    if not entries or ((folder / marker).is_file() and all(ours(entry) for entry in entries)):
        return
    foreign = next((entry for entry in entries if not ours(entry)), entries[0])
    raise NstError(f"{option} {folder} holds files nst-ort did not write ({foreign.name}, ...): "
                   f"give a new or empty folder")
