"""A batch's items: every content x style pair of two folders, or the rows of a plan file
(TOML, JSON or CSV), with option lists expanded as a grid. Options are the schema's
(nst_ort/options/stylize.py): an unknown one refuses the whole plan before any work; a bad value or a
missing file fails its own item only, in one line, when the item runs.

A value that lists several values makes a grid: `1,2,4` for a number option, `a;b` for an
option whose own value has commas (layers, `--style-blend`); a JSON or TOML list does the
same. Styles in one row: `a.jpg;b.jpg` (several styles in one picture).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nst_base.errors import NstError
from nst_ort.core.budget import first_guess_seconds_per_pixel
from nst_ort.options.stylize import StylizeOptions
from nst_ort.options.recipes import recipe_options
from nst_ort.options.schema import specs

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
RUN_FIELDS = ("content", "style", "styles", "recipe")  # plan columns that are not options
LIST_KINDS = ("Layers", "tuple[float, ...]")  # options whose own text has commas: grid values split by ';'
MAX_NAME = 120


@dataclass(frozen=True)
class BatchItem:
    """One picture of a batch: its inputs, recipe and the options given (schema names, as text
    or values; checked when the item runs)."""

    content: Path
    styles: tuple[Path, ...]
    options: dict[str, Any] = field(default_factory=dict)
    recipe: str = "gatys"
    row: str = ""  # where it came from, for messages ("plan.csv row 3")
    problem: str = ""  # what is wrong with its row: the item fails with this line and the rest go on

    def label(self, varying: set[str] | None = None) -> str:
        """A readable file stem: content__style[+style][__recipe]__option-value... (only the
        options in `varying`, those that differ within the batch, when given)."""
        parts = [self.content.stem, "+".join(style.stem for style in self.styles)]
        if self.recipe != "gatys":
            parts.append(self.recipe)
        parts += [f"{name}-{_text(value)}" for name, value in sorted(self.options.items())
                  if varying is None or name in varying]
        return _safe("__".join(parts))

    def identity(self) -> str:
        """What makes the item itself: the same inputs and settings give the same name."""
        data = [str(self.content), [str(s) for s in self.styles], self.recipe,
                sorted((name, _text(value)) for name, value in self.options.items())]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:8]


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_text(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]+", "_", text).strip("._")[:MAX_NAME] or "item"


def names(items: list[BatchItem]) -> list[str]:
    """Each item's output name: its label, with a short hash where two labels would collide."""
    values: dict[str, set[str]] = {}
    for item in items:
        for name, value in item.options.items():
            values.setdefault(name, set()).add(_text(value))
    varying = {name for name, seen in values.items()
               if len(seen) > 1 or any(name not in item.options for item in items)}
    labels = [item.label(varying) for item in items]
    counts = {label: labels.count(label) for label in labels}
    return [label if counts[label] == 1 else f"{label}__{item.identity()}" for label, item in zip(labels, items)]


def unique(items: list[BatchItem]) -> tuple[list[BatchItem], str]:
    """The items with each repeat left out (the first kept), and a one-line warning naming the
    repeats ('' when there are none)."""
    first: dict[str, BatchItem] = {}
    repeats = []
    for item in items:
        kept = first.setdefault(item.identity(), item)
        if kept is not item:
            repeats.append(f"{item.row} repeats {kept.row}")
    shown = "; ".join(repeats[:5]) + (f" and {len(repeats) - 5} more" if len(repeats) > 5 else "")
    return list(first.values()), f"{shown}: each runs once" if repeats else ""


def guess_seconds(items: list[BatchItem]) -> float:
    """A rough guess of a batch's computing time: each item's iterations x pixels per level (a
    4:3 picture) at the first-guess speed (budget.py, 2 threads), or its time budget."""
    total = 0.0
    for item in items:
        try:
            options = recipe_options(item.recipe, None, **item.options)
        except NstError:
            continue  # fails at once when it runs
        pixels = sum(level.iterations * level.long_side ** 2 * 3 / 4 for level in options.schedule())
        total += options.time_budget or pixels * first_guess_seconds_per_pixel(options.conv)
    return total


def option_specs() -> dict[str, Any]:
    """The options a batch takes, by schema name and by flag spelling (style-weight)."""
    known = {spec.name: spec for spec in specs(StylizeOptions) if spec.option.commands}
    return {**known, **{name.replace("_", "-"): spec for name, spec in known.items()}}


def grid(options: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The option dicts a row stands for: every combination of its listed values. Unknown
    option names refuse the plan (NstError naming `where`)."""
    known = option_specs()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise NstError(f"{where}: unknown option {unknown[0]!r}; the options are "
                       f"{', '.join(sorted(n for n in known if '-' not in n))}")
    axes = []
    for name, value in options.items():
        spec = known[name]
        axes.append([(spec.name, choice) for choice in _choices(value, spec.base_kind in LIST_KINDS)])
    return [dict(combination) for combination in itertools.product(*axes)]


def _choices(value: Any, list_valued: bool) -> list[Any]:
    if isinstance(value, list):
        return value if value else [None]
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(";" if list_valued else ",")]
        return [part for part in parts if part] or [None]
    return [value]


def from_folders(contents: Path, styles: Path, options: dict[str, Any], recipe: str = "gatys") -> list[BatchItem]:
    """Every content image x every style image of two folders, for every grid combination."""
    content_files, style_files = _images(contents, "--content"), _images(styles, "--style")
    return [BatchItem(content, (style,), combination, recipe, f"{content.name} x {style.name}")
            for content in content_files for style in style_files
            for combination in grid(options, "the command line")]


def _images(folder: Path, option: str) -> list[Path]:
    if not folder.is_dir():
        raise NstError(f"{option} {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise NstError(f"{option} {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def from_plan(path: Path, options: dict[str, Any], recipe: str = "gatys") -> list[BatchItem]:
    """The items of a plan file: rows with `content`, `style` (or `styles`), optionally
    `recipe`, and any options; `options` from the command line apply to every row (a row's own
    values win). Paths are relative to the plan file's folder."""
    rows = _rows(path)
    items = []
    for number, row in enumerate(rows, start=1):
        where = f"{path.name} row {number}"
        if not isinstance(row, dict):
            raise NstError(f"{where}: expected a table of columns, got {type(row).__name__}")
        row = {str(key).strip(): value for key, value in row.items() if value not in (None, "")}
        content = row.pop("content", None)
        style = row.pop("style", None) or row.pop("styles", None)
        row_recipe = str(row.pop("recipe", recipe))
        styles = style if isinstance(style, list) else [part.strip() for part in str(style or "").split(";")
                                                         if part.strip()]
        combinations = grid({**options, **row}, where)  # an unknown option refuses the plan
        if content is None or not styles:
            items.append(BatchItem(Path(f"row-{number}"), (), {}, row_recipe, where,
                                   problem=f"{where}: a row needs a content and a style"))
            continue
        for combination in combinations:
            items.append(BatchItem(path.parent / str(content), tuple(path.parent / str(s) for s in styles),
                                   combination, row_recipe, where))
    if not items:
        raise NstError(f"{path} has no rows")
    return items


def _rows(path: Path) -> list[Any]:
    if not path.is_file():
        raise NstError(f"plan file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open(path, newline="") as handle:
                return list(csv.DictReader(handle))
        if suffix == ".json":
            data = json.loads(path.read_text())
            return data.get("items", []) if isinstance(data, dict) else data
        if suffix == ".toml":
            return _toml(path).get("item", [])
    except (ValueError, UnicodeDecodeError, csv.Error) as error:
        raise NstError(f"{path} is not a readable {suffix[1:].upper()} plan: {error}") from None
    raise NstError(f"{path}: a plan file is .toml, .json or .csv")


def _toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise NstError("TOML plan files need Python 3.11+ or `pip install tomli`; "
                           "use a .json or .csv plan") from None
    with open(path, "rb") as handle:
        return tomllib.load(handle)
