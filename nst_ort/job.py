"""A stylize job as `nst stylize` runs it: files in, files out, checkpoints; started or resumed.

`JobRunner(job).run()` starts a job; `resume_runner(run_dir).run()` continues one from its
run folder after checking that its inputs and model are the ones it began with. `finish`
writes the outputs and, once the run is complete, removes the run folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_base.locks import PathLocks
from nst_base.versions import NST_ORT_VERSION
from nst_base.manifest import MANIFEST, Manifest
from nst_base.model_store import ExportedModel
from nst_ort.images import PIXEL_LIMIT, check_decodable, fit_long_side, header_size, load_image, read_settings, save_image
from nst_ort.inputs import load_inputs
from nst_ort.outputs import check_distinct, check_not_folder, check_output_file, resolve_output, same_file
from nst_ort.progress import GifRecorder, Reporters, SnapshotWriter
from nst_ort.schema import coerce, from_json, specs, to_json
from nst_ort.runstate import RUN_FILE, Checkpoint, Checkpointer, RunFolder, fingerprint, spare_run_folder
from nst_ort.options import StylizeOptions
from nst_ort.transfer import StylizePlan, StylizeResult, plan_stylize, stylize

DEFAULT_CHECKPOINT_EVERY = 300.0  # seconds: a killed run loses at most this much work
RUN_FOLDER_SUFFIX = ".nst-run"


@dataclass(frozen=True)
class Outputs:
    """What a job writes besides the run folder."""

    image: Path | None = None
    report: Path | None = None
    gif: Path | None = None
    gif_every: int = 10
    gif_frame_ms: int = 100
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
        from nst_ort.images import writable_suffixes

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
                styles: tuple[Path, ...] = (), **changes) -> Job:
    """The job that takes a chosen result up to `size` px from that very image: its recorded
    settings (content and styles overridable), started from it, with coarse-to-fine levels
    from its own size up (each twice the last, the first at least its size)."""
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
        masks = tuple(_recorded_input(name, chosen, "") for name in record.get("masks", []))
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


def model_identity(model: ExportedModel) -> dict:
    return {"net": model.manifest.net, "pool": model.manifest.pool, "folder": str(model.folder.absolute()),
            "files": model.manifest.files}


@dataclass
class JobRunner:
    """Runs one job: inputs loaded, reporters set up, checkpoints kept; `finish` writes the outputs."""

    job: Job
    models_dir: Path
    folder: RunFolder | None = None
    checkpoint_every: float = DEFAULT_CHECKPOINT_EVERY  # seconds; 0: only when stopped or the outputs fail
    reporters: list = field(default_factory=list)  # terminal output and the like
    resume_from: Checkpoint | None = None
    model: ExportedModel | None = None  # opened (exported on first use) by `run` when None
    notify: Callable[[str], None] = lambda message: None  # what the run is doing (the plan, a first export)
    warn: Callable[[str], None] | None = None  # what went wrong but did not stop it; None: notify
    recorder: GifRecorder | None = None
    images: tuple | None = None  # (content, styles, masks) once loaded
    checkpointer: Checkpointer | None = None
    locks: PathLocks | None = None  # this process's hold on the outputs and the run folder
    plan: StylizePlan | None = None  # made by check_memory (validated options, the content's size)

    def claim(self, restart: bool = False, resuming: bool = False) -> None:
        """Before any work: the outputs checked, then they and the run folder locked for this
        process (another run on either is refused), then the run folder checked: one nst-ort
        made, or a new or empty one. `restart` drops an unfinished run kept there; without it
        such a run is refused (it can be resumed)."""
        self.job.check_outputs()
        if self.folder is not None:
            self.folder.check_usable()
            for path in self.job.output_paths() + self.job.input_files():
                if same_file(path, self.folder.path) or path.resolve().parent == self.folder.path.resolve():
                    raise NstError(f"{path} is the run folder {self.folder.path} or inside it: keep runs elsewhere")
        paths = self.job.output_paths() + ([self.folder.path] if self.folder is not None else [])
        self.locks = PathLocks(paths).acquire()
        if self.folder is not None:
            self.folder.check_usable()
            if restart:
                self.folder.clear()
            if not resuming:
                check_no_unfinished_run(self.folder)

    def release(self) -> None:
        if self.locks is not None:
            self.locks.release()

    def load(self) -> None:
        """Decode the inputs (a bad image fails here, before any model work)."""
        job = self.job
        content, styles = load_inputs(job.content, job.styles, job.options, job.explicit_size)
        masks = [load_image(path, limit=None if job.explicit_size else PIXEL_LIMIT, memory_limit=job.options.max_memory)
                 for path in job.masks]
        self.images = content, styles, masks

    def check_memory(self) -> None:
        """The run's plan (levels, memory) from the content's header alone (no decoding, no model
        loaded), when the model is already exported: a run that cannot fit is refused within a
        second, and the run uses this plan (made once)."""
        from export.pipeline import model_name

        folder = self.models_dir / model_name(self.job.options.net, self.job.options.pool)
        if not (folder / MANIFEST).is_file():
            return  # exported on first use; the run makes its plan before any work then
        try:
            size = header_size(self.job.content)
        except NstError:
            return  # decoding it says precisely what is wrong
        self.plan = plan_stylize(size, self.job.options, Manifest.read(folder), len(self.job.styles),
                                 len(self.job.masks))

    def description(self) -> dict:
        return {"job": self.job.to_dict(), "inputs": fingerprint(self.job.input_files()),
                "model": model_identity(self.model)}

    def run(self) -> StylizeResult:
        from export.pipeline import ensure_exported

        if self.images is None:
            self.load()
        content, styles, masks = self.images
        options, outputs = self.job.options, self.job.outputs
        if self.model is None:
            self.model = ensure_exported(self.models_dir, options.net, options.pool, self.notify)
        final_size = content.size if options.keep_size else fit_long_side(content.size, options.size)
        reporters = Reporters(list(self.reporters))
        if outputs.save_every and outputs.image is not None:
            reporters.reporters.append(SnapshotWriter(outputs.image, outputs.save_every, final_size))
        periodic = self.checkpoint_every > 0
        if self.folder is not None:  # without periodic writes, a checkpoint is still kept when stopped
            self.checkpointer = Checkpointer(self.folder, self.description(),
                                             self.checkpoint_every if periodic else math.inf,
                                             notify=self.warn or self.notify)
            self.checkpointer.open()  # before anything is written in the folder: it records who made it
        if outputs.gif is not None:
            frames = self.folder.frames if self.folder is not None and periodic else None
            self.recorder = GifRecorder(outputs.gif_every, outputs.gif_frame_ms, final_size, folder=frames)
            if self.resume_from is not None:
                self.recorder.resume(*self.resume_from.position)
            reporters.reporters.append(self.recorder)
        try:
            return stylize(content, styles, self.model, options, reporters, masks, self.checkpointer,
                           self.resume_from, self.notify, self.plan)
        except BaseException:
            if self.folder is not None and not self.folder.checkpoint_file.exists():
                self.folder.clear()  # nothing to continue from: leave nothing behind
            raise

    def finish(self, result: StylizeResult) -> None:
        """Write the image, GIF and report; a finished run's folder goes away. If an output
        cannot be written (a full disk), the run's last state is kept in its folder, so
        `nst resume` writes the outputs later without redoing the work."""
        outputs = self.job.outputs
        try:
            if outputs.image is not None:
                save_image(result.image, outputs.image, self.job.settings_record())
            if self.recorder is not None:
                self.recorder.write(outputs.gif, result.outcome.image)
            if outputs.report is not None:
                with atomic_file(outputs.report) as tmp:
                    tmp.write_text(json.dumps(result.report, indent=2) + "\n")
        except NstError as error:
            if self.checkpointer is None:
                raise
            if not self.checkpointer.keep():
                spare = RunFolder(spare_run_folder(self.folder.path.name))  # its own folder is gone or unwritable
                if not self.checkpointer.keep_in(spare):
                    raise
                self.folder = spare
            raise NstError(f"{error}; the run is kept in {self.folder.path}: once the output can be written, "
                           f"`{resume_command(self.folder.path, outputs)}` writes it") from None
        if self.folder is not None and not result.outcome.interrupted:
            self.folder.clear()


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


def resume_runner(run_dir: Path, models_dir: Path, checkpoint_every: float = DEFAULT_CHECKPOINT_EVERY,
                  reporters: list | None = None, notify: Callable[[str], None] = lambda message: None,
                  machine: dict | None = None, outputs: dict[str, Path] | None = None) -> JobRunner:
    """A runner that continues the run in `run_dir`; one line if it cannot be continued as it was.
    `machine`: options that do not change the picture (threads, memory, engine...) to run it with now;
    `outputs`: where to write (`image`, `gif`, `report`) instead of what run.json names (see own_outputs)."""
    from export.pipeline import ensure_exported

    folder = RunFolder(Path(run_dir))
    description = folder.job()
    job = Job.from_dict(description.get("job", {}))
    job = replace(job, outputs=own_outputs(job.outputs, folder.path, outputs or {}))
    picture = {spec.name for spec in specs(StylizeOptions) if spec.option.picture}
    changes = coerce(StylizeOptions, machine or {})
    if picture & set(changes):
        raise NstError(f"--{sorted(picture & set(changes))[0].replace('_', '-')} changes the picture: a resumed run "
                       f"keeps its settings (start a new run instead)")
    job = replace(job, options=replace(job.options, **changes))
    job.options.validate()
    recorded = description.get("inputs", {})
    if not isinstance(recorded, dict):
        raise NstError(f"{folder.run_file} is corrupt (inputs): cannot resume")
    for path in job.input_files():
        if not path.is_file():
            raise NstError(f"{path} (an input of this run) is missing: cannot resume")
    for name, digest in fingerprint(job.input_files()).items():
        if recorded.get(name) != digest:
            raise NstError(f"{name} changed since the run began: cannot resume (start a new run instead)")
    runner = JobRunner(job, models_dir, folder, checkpoint_every, list(reporters or []), notify=notify)
    runner.claim(resuming=True)  # the outputs checked as a new command line's, and locked with the folder
    try:
        runner.resume_from = folder.read()
        runner.model = ensure_exported(models_dir, job.options.net, job.options.pool, notify)
        model_record = description.get("model")
        if not isinstance(model_record, dict) or model_record.get("files") != runner.model.manifest.files:
            raise NstError(f"the model in {runner.model.folder} changed since the run began (exported again?): "
                           f"cannot resume")
    except BaseException:
        runner.release()
        raise
    return runner


def check_no_unfinished_run(folder: RunFolder) -> None:
    """Refuse to start over a run that could still be resumed."""
    if not folder.checkpoint_file.exists():
        folder.clear()  # a run that ended before its first checkpoint left nothing to continue
        return
    if folder.exists():
        try:
            command = resume_command(folder.path, Job.from_dict(folder.job().get("job", {})).outputs)
        except NstError:
            command = f"nst resume {folder.path}"
        raise NstError(f"an unfinished run is kept in {folder.path}: continue it with `{command}`, "
                       f"or pass --restart to start over")
