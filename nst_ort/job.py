"""A stylize job as `nst stylize` runs it: files in, files out, checkpoints; started or resumed.

`JobRunner(job).run()` starts a job; `resume_runner(run_dir).run()` continues one from its
run folder after checking that its inputs and model are the ones it began with. `finish`
writes the outputs and, once the run is complete, removes the run folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from PIL import Image

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_base.manifest import MANIFEST, Manifest
from nst_base.model_store import ExportedModel
from nst_ort.api import load_inputs
from nst_ort.images import PIXEL_LIMIT, fit_long_side, header_size, load_image, read_settings, save_image
from nst_ort.progress import GifRecorder, Reporters, SnapshotWriter
from nst_ort.runstate import Checkpoint, Checkpointer, RunFolder, fingerprint
from nst_ort.transfer import StylizeOptions, StylizeResult, plan_levels, stylize

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
        from nst_ort import __version__

        data = self.to_dict()
        return {"nst-ort": __version__, "content": data["content"], "styles": data["styles"], "masks": data["masks"],
                "options": data["options"]}

    def input_files(self) -> list[Path]:
        init = Path(self.options.init)
        return [self.content, *self.styles, *self.masks] + ([init] if init.is_file() else [])

    def to_dict(self) -> dict:
        """JSON-ready, every path absolute (a run may be resumed from another folder)."""
        absolute = lambda path: str(Path(path).absolute()) if path is not None else None  # noqa: E731
        data = asdict(self)
        data["options"] = asdict(self.options)
        if Path(self.options.init).is_file():
            data["options"]["init"] = absolute(self.options.init)
        data["content"] = absolute(self.content)
        data["styles"] = [absolute(path) for path in self.styles]
        data["masks"] = [absolute(path) for path in self.masks]
        data["outputs"].update({key: absolute(data["outputs"][key]) for key in ("image", "report", "gif")})
        return json.loads(json.dumps(data, default=str))

    @classmethod
    def from_dict(cls, data: dict) -> Job:
        try:
            options = _options_from_dict(data["options"])
            path = lambda value: Path(value) if value is not None else None  # noqa: E731
            outputs = data["outputs"]
            return cls(Path(data["content"]), tuple(map(Path, data["styles"])), options, tuple(map(Path, data["masks"])),
                       Outputs(path(outputs["image"]), path(outputs["report"]), path(outputs["gif"]),
                               int(outputs["gif_every"]), int(outputs["gif_frame_ms"]), int(outputs["save_every"])),
                       bool(data["explicit_size"]))
        except (KeyError, TypeError, ValueError) as error:
            raise NstError(f"the run description is incomplete ({type(error).__name__}: {error}): cannot resume") from None


def _options_from_dict(data: dict) -> StylizeOptions:
    """StylizeOptions from its JSON form (lists back to tuples)."""
    def tupled(value):
        return tuple(tupled(item) for item in value) if isinstance(value, list) else value

    known = {f.name for f in fields(StylizeOptions)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    return StylizeOptions(**{name: tupled(value) for name, value in data.items()})


def upscale_job(chosen: Path, size: int, outputs: Outputs, content: Path | None = None,
                styles: tuple[Path, ...] = (), **changes) -> Job:
    """The job that takes a chosen result up to `size` px from that very image: its recorded
    settings (content and styles overridable), started from it, with coarse-to-fine levels
    from its own size up (each twice the last, the first at least its size)."""
    if not chosen.is_file():
        raise NstError(f"image not found: {chosen}")
    record = read_settings(chosen)
    if record is None or "options" not in record:
        raise NstError(f"{chosen} carries no nst-ort settings (only results nst-ort wrote as PNG or JPEG do): "
                       f"use nst stylize --init {chosen} instead")
    with Image.open(chosen) as image:
        chosen_side = max(image.size)
    if size <= chosen_side:
        raise NstError(f"--size {size} is not larger than {chosen} ({chosen_side} px): nothing to upscale")
    try:
        options = _options_from_dict(record["options"])
    except (TypeError, ValueError) as error:
        raise NstError(f"{chosen} carries settings this nst-ort cannot read ({error})") from None
    levels = 1 + int(math.log2(size / chosen_side))
    options = replace(options, size=size, init=str(chosen), init_noise=0.0, scales=levels, keep_size=False,
                      **{key: value for key, value in changes.items() if value is not None})
    return Job(content or Path(record["content"]), styles or tuple(map(Path, record["styles"])), options,
               tuple(map(Path, record.get("masks", []))), outputs)


def default_run_folder(output: Path) -> Path:
    """Where a run keeps its state unless told otherwise: beside its output, e.g. out.png.nst-run/."""
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
    checkpoint_every: float = DEFAULT_CHECKPOINT_EVERY  # seconds; 0: no checkpoints
    reporters: list = field(default_factory=list)  # terminal output and the like
    resume_from: Checkpoint | None = None
    model: ExportedModel | None = None  # opened (exported on first use) by `run` when None
    notify: Callable[[str], None] = lambda message: None  # what the run is doing (the plan, a first export)
    warn: Callable[[str], None] | None = None  # what went wrong but did not stop it; None: notify
    recorder: GifRecorder | None = None
    images: tuple | None = None  # (content, styles, masks) once loaded

    def load(self) -> None:
        """Decode the inputs (a bad image fails here, before any model work)."""
        job = self.job
        content, styles = load_inputs(job.content, job.styles, job.options, job.explicit_size)
        masks = [load_image(path, limit=None if job.explicit_size else PIXEL_LIMIT) for path in job.masks]
        self.images = content, styles, masks

    def check_memory(self) -> None:
        """The memory plan from the content's header alone (no decoding, no model loaded), when the
        model is already exported: a run that cannot fit is refused within a second."""
        from export.pipeline import model_name

        folder = self.models_dir / model_name(self.job.options.net, self.job.options.pool)
        if not (folder / MANIFEST).is_file():
            return  # exported on first use; the run checks its plan before any work then
        try:
            size = header_size(self.job.content)
        except NstError:
            return  # decoding it says precisely what is wrong
        plan_levels(size, self.job.options, Manifest.read(folder), len(self.job.styles), len(self.job.masks))

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
        if outputs.gif is not None:
            frames = self.folder.frames if self.folder is not None and self.checkpoint_every > 0 else None
            self.recorder = GifRecorder(outputs.gif_every, outputs.gif_frame_ms, final_size, folder=frames)
            if self.resume_from is not None:
                self.recorder.resume(*self.resume_from.position)
            reporters.reporters.append(self.recorder)
        checkpointer = None
        if self.folder is not None and self.checkpoint_every > 0:
            checkpointer = Checkpointer(self.folder, self.description(), self.checkpoint_every,
                                        notify=self.warn or self.notify)
        return stylize(content, styles, self.model, options, reporters, masks, checkpointer, self.resume_from,
                       self.notify)

    def finish(self, result: StylizeResult) -> None:
        """Write the image, GIF and report; a finished run's folder goes away."""
        outputs = self.job.outputs
        if outputs.image is not None:
            save_image(result.image, outputs.image, self.job.settings_record())
        if self.recorder is not None:
            self.recorder.write(outputs.gif, result.outcome.image)
        if outputs.report is not None:
            with atomic_file(outputs.report) as tmp:
                tmp.write_text(json.dumps(result.report, indent=2) + "\n")
        if self.folder is not None and not result.outcome.interrupted:
            self.folder.clear()


def resume_runner(run_dir: Path, models_dir: Path, checkpoint_every: float = DEFAULT_CHECKPOINT_EVERY,
                  reporters: list | None = None, notify: Callable[[str], None] = lambda message: None) -> JobRunner:
    """A runner that continues the run in `run_dir`; one line if it cannot be continued as it was."""
    from export.pipeline import ensure_exported

    folder = RunFolder(Path(run_dir))
    description = folder.job()
    job = Job.from_dict(description.get("job", {}))
    recorded = description.get("inputs", {})
    for path in job.input_files():
        if not path.is_file():
            raise NstError(f"{path} (an input of this run) is missing: cannot resume")
    for name, digest in fingerprint(job.input_files()).items():
        if recorded.get(name) != digest:
            raise NstError(f"{name} changed since the run began: cannot resume (start a new run instead)")
    checkpoint = folder.read()
    model = ensure_exported(models_dir, job.options.net, job.options.pool, notify)
    if description.get("model", {}).get("files") != model.manifest.files:
        raise NstError(f"the model in {model.folder} changed since the run began (exported again?): cannot resume")
    return JobRunner(job, models_dir, folder, checkpoint_every, list(reporters or []), checkpoint, model, notify)


def check_no_unfinished_run(folder: RunFolder) -> None:
    """Refuse to start over a run that could still be resumed."""
    if folder.exists():
        raise NstError(f"an unfinished run is kept in {folder.path}: continue it with `nst resume {folder.path}`, "
                       f"or pass --restart to start over")
