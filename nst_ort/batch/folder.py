"""A batch's output folder: one batch at a time, and never a file the batch did not write.

A batch writes into a new or empty folder, or one a batch made (its MARKER file); any other
folder is refused before any work. The marker records each file the batch writes with the
SHA-256 of what it wrote (a JSON line per write): a file there under a name the batch wants,
that the batch did not write or that has changed since (the user's own), is never replaced.
For as long as the batch runs the folder is locked (an operating system file lock, released
when the process ends, even by SIGKILL): a second batch into it is refused in one line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from nst_base.errors import NstError
from nst_base.files import atomic_file, describe_os_error
from nst_base.locks import PathLocks
from nst_ort.io.outputs import check_own_folder

MARKER = ".nst-ort-batch.jsonl"  # marks a batch's folder; a line per file the batch wrote


def digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes (None: not a readable file)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class BatchFolder:
    """The output folder of one batch, claimed for this process by `claim` until `release`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = path / MARKER
        self.written: dict[str, str] = {}  # file name -> SHA-256 of what the batch wrote there
        self.locks = PathLocks([path])

    def claim(self, shared: Iterable[str] = ()) -> BatchFolder:
        """Before any work: the folder locked (another batch holds it: a one-line NstError naming
        its process), checked (new, empty or a batch's), and the batch-wide files `shared` (the
        index, the contact sheets) checked as the batch's or absent."""
        self.locks.acquire()
        try:
            check_own_folder(self.path, MARKER)
            self.written = self._read()
            taken = self.foreign(shared)
            if taken is not None:
                raise NstError(f"-o {self.path}: {taken} there is not the file an nst batch wrote: "
                               f"move it away, or give another folder")
            self._save()  # the marker compacted: the latest digest of each file
        except BaseException:
            self.locks.release()
            raise
        return self

    def release(self) -> None:
        self.locks.release()

    def __enter__(self) -> BatchFolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def foreign(self, names: Iterable[str]) -> str | None:
        """The first of these files that is there but is not what the batch wrote (None: all ours or absent)."""
        for name in names:
            path = self.path / name
            if (path.exists() or path.is_symlink()) and digest(path) != self.written.get(name, ""):
                return name
        return None

    def record(self, names: Iterable[str]) -> None:
        """Files the batch's items just wrote (those that are there): recorded as the batch's."""
        lines = []
        for name in names:
            value = digest(self.path / name)
            if value is not None and self.written.get(name) != value:
                self.written[name] = value
                lines.append(json.dumps({"file": name, "sha256": value}) + "\n")
        if lines:
            try:
                with open(self.marker, "a") as marker:
                    marker.writelines(lines)
            except OSError as error:
                raise NstError(describe_os_error(error, self.marker)) from None

    def write(self, name: str, data: bytes) -> None:
        """A file of the batch's, written atomically and recorded."""
        with atomic_file(self.path / name) as tmp:
            tmp.write_bytes(data)
        self.record([name])

    def _read(self) -> dict[str, str]:
        written: dict[str, str] = {}
        if self.marker.is_file():
            for line in self.marker.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
                if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                    written[entry["file"]] = str(entry.get("sha256"))
        return written

    def _save(self) -> None:
        lines = [json.dumps({"kind": "nst-ort batch"})] + [json.dumps({"file": name, "sha256": value})
                                                           for name, value in sorted(self.written.items())]
        with atomic_file(self.marker) as tmp:
            tmp.write_text("\n".join(lines) + "\n")
