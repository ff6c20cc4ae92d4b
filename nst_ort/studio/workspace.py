"""The studio's workspace: one folder per run under WORKSPACE/runs/, all the studio ever writes.

    runs/ID/studio.json      what the run is and where it stands (status, options, progress)
    runs/ID/inputs/          the uploaded photo, paintings and masks (their own names, made safe)
    runs/ID/result.png       the picture (the best so far once stopped), with its settings
    runs/ID/report.json      its report
    runs/ID/preview.jpg      the latest preview while a page watches
    runs/ID/job.nst-run/     its run folder while it runs or is stopped (checkpoints)

IDs are generated here and checked on every request, so no request names a path of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import threading
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_ort.jobs.status import Status

RUN_ID = re.compile(r"[0-9a-f]{12}")
RECORD = "studio.json"
SERVER = "server.json"  # the port the workspace's last server listened on
KIND = "nst-ort studio run"


def default_workspace() -> Path:
    """The user's data folder: $XDG_DATA_HOME (Linux), Application Support (macOS), %APPDATA%."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home()))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "nst-ort" / "studio"


def safe_name(name: str, fallback: str) -> str:
    """An uploaded file's name without folders or odd characters (its suffix kept)."""
    plain = unicodedata.normalize("NFKD", Path(name or "").name).encode("ascii", "ignore").decode()  # Tübingen: Tubingen
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._")
    return stem[:80] or fallback


@dataclass
class RunRecord:
    """A studio run as the history shows it."""

    id: str
    content: str  # file names in inputs/
    styles: list[str]
    options: dict[str, Any]  # the options given (schema names)
    recipe: str = "gatys"
    kind: str = "stylize"  # stylize | print
    parent: str | None = None  # the run a print was made from
    status: Status = Status.QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str = ""
    progress: dict[str, Any] = field(default_factory=dict)
    resume: bool = False  # continue from its run folder when it next runs
    masks: list[str] = field(default_factory=list)  # file names in inputs/, one per style (or none)
    summary: str = ""  # how long an ended run took and the energy it drew
    titles: dict[str, str] = field(default_factory=dict)  # stored file name -> as the artist knows it ("Tübingen")

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # as read from studio.json (ValueError: not a run this studio knows)

    def file_stem(self) -> str:
        """What a download of it is called: its photo and paintings (`tubingen_x_starry_night`,
        `..._print` for a print), as the files were named when sent."""
        sent = lambda name: Path(name).stem.split("_", 1)[-1] if name[:1].isdigit() else Path(name).stem  # noqa: E731
        stem = "_x_".join([Path(self.content).stem, *(sent(name) for name in self.styles)])
        stem = re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_")[:120] or "picture"
        return stem + ("_print" if self.kind == "print" else "")

    def public(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "resume"}


class Workspace:
    """The runs on disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.lock = threading.RLock()
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise NstError(f"cannot use {self.root} as the workspace: {error.strerror}") from None

    def folder(self, run_id: str) -> Path:
        """The folder of an existing run; NstError for anything that is not one."""
        if not RUN_ID.fullmatch(run_id or "") or not (self.runs / run_id / RECORD).is_file():
            raise KeyError(run_id)
        return self.runs / run_id

    def new_folder(self) -> tuple[str, Path]:
        run_id = uuid.uuid4().hex[:12]
        folder = self.runs / run_id
        (folder / "inputs").mkdir(parents=True)
        return run_id, folder

    def last_port(self) -> int | None:
        """The port the last server of this workspace listened on."""
        try:
            port = json.loads((self.root / SERVER).read_text()).get("port")
        except (OSError, ValueError, AttributeError):
            return None
        return port if isinstance(port, int) and 0 < port < 65536 else None

    def remember_port(self, port: int) -> None:
        with contextlib.suppress(OSError):
            with atomic_file(self.root / SERVER) as tmp:
                tmp.write_text(json.dumps({"port": port}) + "\n")

    def update(self, run_id: str, **changes: Any) -> RunRecord:
        """A run's record changed as it is on disk, under the workspace's lock (the queue's thread
        and the requests' threads both change records)."""
        with self.lock:
            record = replace(self.load(run_id), **changes)
            self.save(record)
        return record

    def save(self, record: RunRecord) -> None:
        with atomic_file(self.runs / record.id / RECORD) as tmp:
            tmp.write_text(json.dumps({"file": KIND, **asdict(record)}, indent=1))

    def load(self, run_id: str) -> RunRecord:
        data = json.loads((self.folder(run_id) / RECORD).read_text())
        if data.pop("file", None) != KIND:
            raise ValueError(f"{run_id} is not a studio run")
        return RunRecord(**data)

    def all(self) -> list[RunRecord]:
        """Every run, newest first (a folder that is not a readable run is skipped)."""
        records = []
        for folder in self.runs.iterdir():
            try:
                records.append(self.load(folder.name))
            except (KeyError, OSError, ValueError, TypeError):
                continue
        return sorted(records, key=lambda record: record.created, reverse=True)

    def inputs(self, record: RunRecord) -> tuple[Path, tuple[Path, ...], tuple[Path, ...]]:
        """A run's photo, paintings and masks."""
        folder = self.runs / record.id / "inputs"
        return (folder / record.content, tuple(folder / name for name in record.styles),
                tuple(folder / name for name in record.masks))

    def without_paths(self, message: str) -> str:
        """A message for the page: a run's files by their names, the workspace as "the studio's
        workspace" (the artist never sees the studio's folders)."""
        message = re.sub(re.escape(str(self.runs)) + r"[/\\][0-9a-f]{12}[/\\](inputs[/\\])?", "", message)
        return message.replace(str(self.root), "the studio's workspace")

    def input_file(self, run_id: str, name: str) -> Path:
        """One of a run's own inputs (its photo, a painting, a mask) by its stored name; KeyError
        for any other name, so no other file is ever served."""
        record = self.load(run_id)
        if name not in (record.content, *record.styles, *record.masks):
            raise KeyError(name)
        return self.folder(run_id) / "inputs" / name

    def picture(self, run_id: str) -> Path | None:
        """The final image, else the latest preview."""
        folder = self.folder(run_id)
        for name in ("result.png", "preview.jpg"):
            if (folder / name).is_file():
                return folder / name
        return None

    def delete(self, run_id: str) -> None:
        """A run's folder, which the studio made whole (checked by its record)."""
        folder = self.folder(run_id)
        shutil.rmtree(folder)
