"""manifest.json: what an exported model folder holds and where it came from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nst_base.errors import NstError

FORMAT = 1
MANIFEST = "manifest.json"
FEATURES = "features.onnx"


@dataclass(frozen=True)
class Manifest:
    net: str
    pool: str
    source: str
    source_sha256: str
    preprocessing: dict
    layers: dict[str, int]  # relu name -> channels, in execution order
    files: dict[str, str]  # file name -> sha256
    versions: dict[str, str] = field(default_factory=dict)
    format: int = FORMAT

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise NstError(f"{folder} was exported by another nst-ort version (format "
                               f"{data.get('format')}, need {FORMAT}): run `nst export --force`")
            return cls(**data)
        except FileNotFoundError:
            raise NstError(f"no exported model in {folder}: run `nst export`") from None
        except (ValueError, TypeError) as error:
            raise NstError(f"{path} is corrupt ({error}): run `nst export --force`") from None
