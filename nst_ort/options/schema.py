"""The option schema: each option declared once, on its dataclass field.

`option(default, help=..., ...)` makes a dataclass field whose metadata says everything a
front end needs: the type (from the annotation), the default, the allowed values or range,
the parser for text (`2G`, `20m`, `relu1_1:0.5,relu2_1`), the help, the commands it applies
to, whether it changes the picture and whether it names a file. From it come the CLI flags
(nst_ort/cli/common.py), the Python API's keyword arguments, validation with one-line errors, the
run folder's settings and the settings a result carries; a web form or a batch file reads
the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from nst_base.errors import NstError

STYLIZE, VIDEO, UPSCALE, SHEET, RESUME = "stylize", "video", "upscale", "sheet", "resume"


class OptionError(NstError):
    """A one-line error about one option, which it names (a form shows it beside that field)."""

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option
PICTURE_COMMANDS = frozenset({STYLIZE, VIDEO, SHEET})  # commands that make a picture from scratch


@dataclass(frozen=True)
class Option:
    """What one option is, beside its name, type and default (the dataclass field's)."""

    help: str
    commands: frozenset[str] = PICTURE_COMMANDS  # the commands that take it as a flag
    parse: Callable[[str], Any] | None = None  # text -> value; None: the type's own (int, float, str)
    show: Callable[[Any], str] = str  # value -> text, as the parser reads it
    choices: tuple[str, ...] = ()  # the allowed values (str options)
    low: float | None = None  # the smallest allowed value
    high: float | None = None  # the largest allowed value
    above: bool = False  # `low` itself is not allowed (> low)
    check: Callable[[Any], str | None] | None = None  # another rule: the problem, or None
    picture: bool = True  # changes the picture (a resumed run keeps it; results carry it)
    everyday: bool = False  # among the options most people change (first in forms and docs)
    default_text: str | None = None  # the default as help shows it, where the value alone says little
    doc: str = ""  # more than the help says, for the docs' reference (docs/options.md) and the web form
    names_file: bool = False  # the value may name a file to read or write: never taken as a path from a request
    words: tuple[str, ...] = ()  # the values of a `names_file` option that are not files (init: content, noise, gray)

    def describe_default(self, default: Any) -> str:
        if self.default_text is not None:
            return self.default_text
        if isinstance(default, bool):
            return "yes" if default else "no"
        return "not set" if default is None else self.show(default)


def option(default: Any = None, *, help: str, **meta: Any) -> Any:
    """A dataclass field declared as an option (see Option for the metadata)."""
    commands = meta.pop("commands", PICTURE_COMMANDS)
    return field(default=default, metadata={"option": Option(help=help, commands=frozenset(commands), **meta)})


@dataclass(frozen=True)
class Spec:
    """An option as front ends see it: its field and its Option."""

    name: str
    kind: str  # the annotation as written: "int", "float | None", "Layers", ...
    default: Any
    option: Option

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def base_kind(self) -> str:
        """The type without `| None`."""
        return next(part.strip() for part in self.kind.split("|") if part.strip() != "None")

    @property
    def optional(self) -> bool:
        return "None" in (part.strip() for part in self.kind.split("|"))

    def from_text(self, text: str) -> Any:
        """The value of a flag, a form field or a batch file cell."""
        if self.option.parse is not None:
            try:
                return self.option.parse(text)
            except NstError as error:
                raise OptionError(str(error), self.name) from None
        converter = {"int": int, "float": float, "str": str, "bool": _parse_bool}[self.base_kind]
        try:
            return converter(text.strip())
        except ValueError:
            raise OptionError(f"{self.flag} must be {'a whole number' if self.base_kind == 'int' else 'a number'}, "
                              f"not {text!r}", self.name) from None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this option, or None."""
        option = self.option
        if value is None:
            return None if self.optional else f"{self.flag} must be given"
        if option.choices and value not in option.choices:
            return f"{self.flag} must be one of {', '.join(option.choices)}, not {value!r}"
        if option.low is not None or option.high is not None:
            number = float(value)
            low, high = option.low, option.high
            ok = (low is None or (number > low if option.above else number >= low)) and (high is None or number <= high)
            if not ok or math.isnan(number):
                return f"{self.flag} must be {_range_text(low, high, option.above)}, not {self.option.show(value)}"
        return option.check(value) if option.check is not None else None


def _range_text(low: float | None, high: float | None, above: bool) -> str:
    if low is not None and high is not None:
        return f"> {low:g} and at most {high:g}" if above else f"between {low:g} and {high:g}"
    if low is not None:
        return f"> {low:g}" if above else f"at least {low:g}"
    return f"at most {high:g}"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def specs(options_class: type) -> Iterator[Spec]:
    """The options of a dataclass declared with `option`, in declaration order."""
    for item in fields(options_class):
        if "option" in item.metadata:
            yield _spec(item)


def _spec(item: Field) -> Spec:
    default = item.default if item.default is not MISSING else item.default_factory()  # type: ignore[misc]
    return Spec(item.name, str(item.type), default, item.metadata["option"])


def allowed_text(spec: Spec) -> str:
    """The allowed values in words: choices, a range, or nothing to say."""
    option = spec.option
    if option.choices:
        return "one of " + ", ".join(f"`{choice}`" for choice in option.choices)
    if option.low is not None or option.high is not None:
        return _range_text(option.low, option.high, option.above)
    return ""


def specs_for(options_class: type, command: str) -> list[Spec]:
    return [spec for spec in specs(options_class) if command in spec.option.commands]


def file_options(options_class: type) -> list[Spec]:
    """The options whose value may name a file (`names_file`)."""
    return [spec for spec in specs(options_class) if spec.option.names_file]


def problems(options: Any) -> Iterator[OptionError]:
    """Every rule the schema states, checked on a dataclass of options: an error per broken one."""
    for spec in specs(type(options)):
        message = spec.problem(getattr(options, spec.name))
        if message is not None:
            yield OptionError(message, spec.name)


def coerce(options_class: type, values: dict[str, Any]) -> dict[str, Any]:
    """Keyword values for `options_class` (the API's, a form's, a batch row's): unknown names
    refused, text parsed by each option's parser, None dropped (the recipe's value stays)."""
    known = {spec.name: spec for spec in specs(options_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise OptionError(f"unknown option {unknown[0]!r}; the options are {', '.join(known)}", unknown[0])
    return {name: known[name].from_text(value) if isinstance(value, str) and known[name].base_kind != "str" else value
            for name, value in values.items() if value is not None}


# ---- JSON: run folders, results' settings, reports -------------------------------------------------

def to_json(options: Any, picture_only: bool = False) -> dict[str, Any]:
    """The options as JSON values (tuples as lists); `picture_only`: what changes the picture."""
    return {spec.name: _jsonable(getattr(options, spec.name)) for spec in specs(type(options))
            if spec.option.picture or not picture_only}


def _jsonable(value: Any) -> Any:
    return [_jsonable(item) for item in value] if isinstance(value, tuple) else value


def from_json(options_class: type, data: dict[str, Any]) -> Any:
    """Options from their JSON form, every value type-checked (a run folder may have been
    edited): ValueError names the first wrong one. Missing options take their defaults."""
    if not isinstance(data, dict):
        raise ValueError("the options are not a mapping")
    known = {spec.name: spec for spec in specs(options_class)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown settings {unknown}")
    values = {name: _tupled(value) for name, value in data.items()}
    for name, value in values.items():
        if not _has_kind(value, known[name].kind):
            raise ValueError(f"setting {name} = {data[name]!r} is not {known[name].kind}")
    return options_class(**values)


def _tupled(value: Any) -> Any:
    return tuple(_tupled(item) for item in value) if isinstance(value, list) else value


def _has_kind(value: Any, kind: str) -> bool:
    """Whether a value read from JSON fits an annotation written as in nst_ort/options/stylize.py."""
    kinds = [part.strip() for part in kind.split("|")]
    if value is None:
        return "None" in kinds
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    checks = {"int": isinstance(value, int) and not isinstance(value, bool), "float": number,
              "bool": isinstance(value, bool), "str": isinstance(value, str),
              "tuple[float, ...]": isinstance(value, tuple) and all(_has_kind(v, "float") for v in value),
              "Layers": isinstance(value, tuple) and all(isinstance(item, tuple) and len(item) == 2
                                                         and isinstance(item[0], str) and _has_kind(item[1], "float")
                                                         for item in value)}
    return any(checks.get(item, False) for item in kinds)


# ---- text forms shared by every front end ------------------------------------------------------------

def parse_layers(text: str) -> tuple[tuple[str, float], ...]:
    """'relu1_1,relu2_1:0.5' -> (('relu1_1', 1.0), ('relu2_1', 0.5))."""
    layers = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            layers.append((name.strip(), float(weight) if weight else 1.0))
        except ValueError:
            raise NstError(f"bad layer weight in {item!r}: use NAME or NAME:WEIGHT") from None
    if not layers:
        raise NstError(f"no layers in {text!r}")
    return tuple(layers)


def show_layers(layers: tuple[tuple[str, float], ...]) -> str:
    return ",".join(name if weight == 1 else f"{name}:{weight:g}" for name, weight in layers)


def parse_numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise NstError(f"expected comma-separated numbers, got {text!r}") from None


def show_numbers(values: tuple[float, ...]) -> str:
    return ",".join(f"{value:g}" for value in values)


def parse_memory(text: str) -> int:
    """'2G', '800M', '1.5GB', '4096' (bytes) -> bytes."""
    from nst_ort.platform.memory import parse_size_bytes

    try:
        return parse_size_bytes(text)
    except (ValueError, IndexError, OverflowError):
        raise NstError(f"--max-memory must look like 2G, 800M or 1.5GB, not {text!r}") from None


def parse_seconds(text: str, option: str = "--time-budget") -> float:
    """'90', '90s', '5m', '1.5h' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1].lower()) if text and text[-1].lower() in units else (text, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise NstError(f"{option} must look like 90s, 5m or 1h, not {text!r}") from None
    if not (seconds >= 0 and seconds < float("inf")):
        raise NstError(f"{option} must be >= 0, not {text!r}")
    return seconds


def show_seconds(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
