"""manifest.json: what an exported model folder holds and where it came from."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nst_base.errors import NstError

FORMAT = 1
MANIFEST = "manifest.json"
FEATURES = "features.onnx"


def default_models_dir() -> Path:
    """$NST_MODELS_DIR, else models/ in the checkout, else the user's cache folder."""
    if env := os.environ.get("NST_MODELS_DIR"):
        return Path(env)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "models"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nst-ort" / "models"


def exported_manifest(models_dir: Path, net: str, pool: str) -> Manifest | None:
    """The manifest of the network's model in `models_dir`, or None while it is not exported."""
    folder = models_dir / model_name(net, pool)
    return Manifest.read(folder) if (folder / MANIFEST).is_file() else None


def model_name(net: str, pool: str) -> str:
    """The folder of a network's exported model under the models folder."""
    return net if pool == "max" else f"{net}-{pool}"


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
