"""What a request asks of the studio, checked before anything is done: a one-line error with
the form field it belongs to, the gallery's paintings a run names, and file options that may
only name the run's own uploads (no path from a request is ever opened)."""

from __future__ import annotations

from typing import Any

from nst_base.errors import NstError
from nst_ort.options.schema import file_options
from nst_ort.options.stylize import StylizeOptions
from nst_ort.studio.gallery import Painting, painting, paintings


class FieldError(NstError):
    """Bad input, with the form field it belongs to (and the HTTP status to answer)."""

    def __init__(self, message: str, field: str, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.status = field, status


def field_of(error: NstError, fallback: str = "options") -> str:
    """The form field an error belongs to: the option it names (options.schema.OptionError),
    else `fallback`, the field of what the request was doing."""
    return getattr(error, "option", None) or fallback


def gallery_paintings(names: object) -> list[Painting]:
    """The gallery's paintings a run names (`"paintings": ["starry_night", ...]`), FieldError
    for anything else."""
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise FieldError("paintings must be a list of the gallery's names", "paintings")
    unknown = [name for name in names if painting(name) is None]
    if unknown:
        raise FieldError(f"the gallery has no painting {unknown[0]!r}; it has {', '.join(paintings())}", "paintings")
    return [painting(name) for name in names]


def naming_uploads(options: dict[str, Any], uploads: dict[str, str]) -> dict[str, Any]:
    """`options` with each file option (init) naming an upload by its name in inputs/:
    `uploads` maps the names a file was sent and stored under to the stored one. Any other
    value (a path above all) is refused without being looked at, the same way whatever it is."""
    named = dict(options)
    for spec in file_options(StylizeOptions):
        value = options.get(spec.name)
        if value is None or value in spec.option.words:
            continue
        if not isinstance(value, str) or value not in uploads:
            words = ", ".join(spec.option.words)
            raise FieldError(f"{spec.flag} takes {words + ' or ' if words else ''}the name of a file uploaded with "
                             f"the run (the photo, a painting, a mask): the studio opens no other file", spec.name)
        named[spec.name] = uploads[value]
    return named
