"""A stylize job as `nst stylize` describes it: files in, files out, settings; where its run
folder is, and where a resumed run may write.

jobs/runner.py runs one; jobs/lifecycle.py is the life cycle every front end goes through.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from nst_base.errors import NstError
from nst_base.versions import NST_ORT_VERSION
from nst_ort.io.images import check_decodable, header_size, read_settings
from nst_ort.io.outputs import check_distinct, check_not_folder, check_output_file, resolve_output
from nst_ort.options.defaults import GIF_EVERY, GIF_FRAME_MS
from nst_ort.options.schema import coerce, from_json, to_json
from nst_ort.options.stylize import StylizeOptions

RUN_FOLDER_SUFFIX = ".nst-run"
RUN_FILE = "run.json"  # in a run folder: what the run is (jobs/run_folder.py)


@dataclass(frozen=True)
class Outputs:
    """What a job writes besides the run folder."""

    image: Path | None = None
    report: Path | None = None
    gif: Path | None = None
    gif_every: int = GIF_EVERY
    gif_frame_ms: int = GIF_FRAME_MS
    save_every: int = 0  # write the current image to `image` every N iterations
    record_paths: bool = False  # the result's settings name its inputs by full path (else by file name)


@dataclass(frozen=True)
class Job:
    content: Path
    styles: tuple[Path, ...]
    options: StylizeOptions  # resolved (recipe applied)
    masks: tuple[Path, ...] = ()
    outputs: Outputs = Outputs()
    explicit_size: bool = True  # --size given: huge inputs are shrunk while decoding

    def settings_record(self) -> dict:
        """What a result image carries (images.save_image): enough to take it further (`nst upscale`)."""
        data = self.to_dict()
        options = {key: data["options"][key] for key in to_json(self.options, picture_only=True)}
        if not self.outputs.record_paths:  # a shared picture does not tell where its inputs live
            name = lambda path: Path(path).name  # noqa: E731
            data.update(content=name(data["content"]), styles=[name(p) for p in data["styles"]],
                        masks=[name(p) for p in data["masks"]])
            if Path(self.options.init).is_file():
                options["init"] = name(self.options.init)
        return {"nst-ort": NST_ORT_VERSION, "content": data["content"], "styles": data["styles"], "masks": data["masks"],
                "options": options}

    def check_outputs(self) -> None:
        """Every output checked as a new command line's are, before any work (`nst resume`
        checks run.json's the same way: it may have been edited)."""
        from nst_ort.io.images import writable_suffixes

        outputs, inputs = self.outputs, self.input_files()
        named = {option: path for option, path in (("-o", outputs.image), ("--gif", outputs.gif),
                                                   ("--report", outputs.report)) if path is not None}
        for option, path in named.items():
            suffixes, hint = {"-o": (writable_suffixes(), ".png, .jpg or .webp"), "--gif": ({".gif"}, ".gif"),
                              "--report": ({".json"}, ".json")}[option]
            check_output_file(path, inputs, option, suffixes, hint)
        check_distinct(named)
        if outputs.save_every < 0 or outputs.gif_every < 1 or outputs.gif_frame_ms < 1:
            raise NstError("--save-every must be >= 0, --gif-every and --gif-frame-ms >= 1")

    def output_paths(self) -> list[Path]:
        return [path for path in (self.outputs.image, self.outputs.report, self.outputs.gif) if path is not None]

    def input_files(self) -> list[Path]:
        init = Path(self.options.init)
        return [self.content, *self.styles, *self.masks] + ([init] if init.is_file() else [])

    def to_dict(self) -> dict:
        """JSON-ready, every path absolute (a run may be resumed from another folder)."""
        absolute = lambda path: str(Path(path).absolute()) if path is not None else None  # noqa: E731
        data = asdict(self)
        data["options"] = to_json(self.options)
        if Path(self.options.init).is_file():
            data["options"]["init"] = absolute(self.options.init)
        data["content"] = absolute(self.content)
        data["styles"] = [absolute(path) for path in self.styles]
        data["masks"] = [absolute(path) for path in self.masks]
        data["outputs"].update({key: absolute(data["outputs"][key]) for key in ("image", "report", "gif")})
        return json.loads(json.dumps(data, default=str))

    @classmethod
    def from_dict(cls, data: dict) -> Job:
        """The job a run folder describes; every field type-checked (run.json may have been edited)."""
        try:
            options = from_json(StylizeOptions, _field(data, "options", dict))
            outputs = _field(data, "outputs", dict)
            output = lambda key: _path(outputs.get(key), f"outputs.{key}", optional=True)  # noqa: E731
            number = lambda key: _field(outputs, key, int)  # noqa: E731
            return cls(_path(data.get("content"), "content"), _paths(data, "styles"), options, _paths(data, "masks"),
                       Outputs(output("image"), output("report"), output("gif"), number("gif_every"),
                               number("gif_frame_ms"), number("save_every"),
                               bool(outputs.get("record_paths", False))),
                       _field(data, "explicit_size", bool))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise NstError(f"the run description is damaged ({error}): cannot resume") from None


def _field(data: dict, key: str, kind: type):
    """`data[key]`, which must be a `kind` (ValueError naming the key otherwise)."""
    if not isinstance(data, dict) or key not in data:
        raise ValueError(f"{key} is missing")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{key} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _path(value, key: str, optional: bool = False) -> Path | None:
    """A path given as text (ValueError naming the key otherwise)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a file path, not {type(value).__name__}")
    return Path(value)


def _paths(data: dict, key: str) -> tuple[Path, ...]:
    values = _field(data, key, list)
    return tuple(_path(value, f"{key}[{index}]") for index, value in enumerate(values))


def upscale_job(chosen: Path, size: int, outputs: Outputs, content: Path | None = None,
                styles: tuple[Path, ...] = (), masks: tuple[Path, ...] = (), **changes) -> Job:
    """The job that takes a chosen result up to `size` px from that very image: its recorded
    settings (content, styles and masks overridable), started from it, with coarse-to-fine
    levels from its own size up (each twice the last, the first at least its size)."""
    chosen_size = header_size(chosen)
    check_decodable(chosen, chosen_size)  # it is decoded as the start, and its settings may follow its pixels
    record = read_settings(chosen)
    if record is None or "options" not in record:
        raise NstError(f"{chosen} carries no nst-ort settings (only results nst-ort wrote as PNG or JPEG do): "
                       f"use nst stylize --init {chosen} instead")
    chosen_side = max(chosen_size)
    if size <= chosen_side:
        raise NstError(f"--size {size} is not larger than {chosen} ({chosen_side} px): nothing to upscale")
    try:
        options = from_json(StylizeOptions, record["options"])
    except (TypeError, ValueError) as error:
        raise NstError(f"{chosen} carries settings this nst-ort cannot read ({error})") from None
    levels = 1 + int(math.log2(size / chosen_side))
    options = replace(options, size=size, init=str(chosen), init_noise=0.0, scales=levels, keep_size=False,
                      **coerce(StylizeOptions, changes))
    try:
        content = content or _recorded_input(record["content"], chosen, "--content")
        styles = styles or tuple(_recorded_input(name, chosen, "--style") for name in record["styles"])
        masks = masks or tuple(_recorded_input(name, chosen, "") for name in record.get("masks", []))
    except (KeyError, TypeError):
        raise NstError(f"{chosen} carries settings this nst-ort cannot read (inputs)") from None
    return Job(content, styles, options, masks, outputs)


def _recorded_input(name: str, chosen: Path, option: str) -> Path:
    """An input a result names: a full path (--record-paths), or a file name looked for beside
    the result, then in the current folder."""
    path = Path(name)
    if path.is_absolute():
        return path
    for folder in (chosen.parent, Path.cwd()):
        if (folder / path).is_file():
            return folder / path
    give = f": give it with {option}" if option else ""
    raise NstError(f"{chosen} was made from {name}, found neither beside it nor in the current folder{give}")


def default_run_folder(output: Path) -> Path:
    """Where a run keeps its state unless told otherwise: beside its output, e.g. out.png.nst-run/."""
    if not output.name:  # `-o /`
        check_not_folder(output)
    return output.with_name(output.name + RUN_FOLDER_SUFFIX)


OUTPUT_FLAGS = {"image": "-o", "gif": "--gif", "report": "--report"}  # Outputs field -> the flag naming it


def _place(folder: Path) -> Path:
    """Where a run folder sits: the only place its run.json may send outputs."""
    return Path(resolve_output(folder)).parent.resolve()


def _in_place(path: Path, place: Path) -> bool:
    return resolve_output(path).parent.resolve() == place


def own_outputs(outputs: Outputs, folder: Path, given: dict[str, Path]) -> Outputs:
    """The outputs a resumed run writes: those `given` now (`nst resume -o/--gif/--report`),
    else the ones run.json names, which may only be the run folder's own place: the folder it
    sits in (`print.png.nst-run` -> `print.png`). Relative paths are taken from there. A
    crafted run.json cannot send a result anywhere else."""
    place = _place(folder)
    chosen = {}
    for key, flag in OUTPUT_FLAGS.items():
        if given.get(key) is not None:
            chosen[key] = resolve_output(given[key])
        elif (recorded := getattr(outputs, key)) is not None:
            path = resolve_output(place / recorded)
            if not _in_place(path, place):
                raise NstError(f"{folder / RUN_FILE} names {path} as its output ({flag}), outside {place} where the "
                               f"run folder is: pass `nst resume {folder} {flag} {path}` to write there")
            chosen[key] = path
    return replace(outputs, **chosen)


def resume_command(folder: Path, outputs: Outputs) -> str:
    """The `nst resume` line that continues a run kept in `folder`: with -o, --gif or --report
    for each output that is not in the folder's own place (own_outputs)."""
    place = _place(folder)
    flags = [f"{flag} {path}" for key, flag in OUTPUT_FLAGS.items()
             if (path := getattr(outputs, key)) is not None and not _in_place(path, place)]
    return " ".join(["nst resume", str(folder), *flags])
