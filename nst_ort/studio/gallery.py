"""The studio's gallery: public-domain paintings bundled with the package (paintings/, each
credited in catalogue.json), chosen by name instead of uploading a file."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).parent / "paintings"


@dataclass(frozen=True)
class Painting:
    """One painting of the gallery and where it comes from."""

    name: str  # what a run names it by: "starry_night"
    title: str
    artist: str
    year: str
    licence: str
    source: str
    file: str
    size: tuple[int, int]

    @property
    def path(self) -> Path:
        return FOLDER / self.file

    def public(self) -> dict:
        return {"name": self.name, "title": self.title, "artist": self.artist, "year": self.year,
                "licence": self.licence, "source": self.source, "size": list(self.size)}


@functools.cache
def paintings() -> dict[str, Painting]:
    """The gallery by name, in the catalogue's order."""
    entries = json.loads((FOLDER / "catalogue.json").read_text())
    return {entry["name"]: Painting(**{**entry, "size": tuple(entry["size"])}) for entry in entries}


def painting(name: object) -> Painting | None:
    """The painting of that name, or None."""
    return paintings().get(name) if isinstance(name, str) else None
