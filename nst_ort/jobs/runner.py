"""Running one job: its outputs claimed, its memory planned, its inputs decoded, the level
loop run with checkpoints in its run folder, its outputs written; or a job resumed from its
run folder after checking that its inputs and model are the ones it began with.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_base.locks import PathLocks
from nst_base.manifest import exported_manifest
from nst_base.model_store import ExportedModel
from nst_ort.core.checkpoint import Checkpoint
from nst_ort.core.levels import StylizePlan, StylizeResult, plan_stylize, stylize
from nst_ort.io.images import PIXEL_LIMIT, fit_long_side, header_size, load_image, save_image
from nst_ort.io.inputs import load_inputs
from nst_ort.io.outputs import same_file
from nst_ort.jobs.job import Job, own_outputs, resume_command
from nst_ort.jobs.progress import GifRecorder, Reporters, SnapshotWriter
from nst_ort.jobs.run_folder import Checkpointer, RunFolder, fingerprint, spare_run_folder
from nst_ort.jobs.window import BatteryPause, Deadline
from nst_ort.options.defaults import CHECKPOINT_EVERY
from nst_ort.options.schema import coerce, specs
from nst_ort.options.stylize import StylizeOptions


def model_identity(model: ExportedModel) -> dict:
    return {"net": model.manifest.net, "pool": model.manifest.pool, "folder": str(model.folder.absolute()),
            "files": model.manifest.files}


@dataclass
class JobRunner:
    """Runs one job: inputs loaded, reporters set up, checkpoints kept; `finish` writes the outputs."""

    job: Job
    models_dir: Path
    folder: RunFolder | None = None
    checkpoint_every: float = CHECKPOINT_EVERY  # seconds; 0: only when stopped or the outputs fail
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
    deadline: Deadline | None = None  # --until, once the run started

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
        try:
            if self.folder is not None:
                self.folder.check_usable()
                if restart:
                    self.folder.clear()
                if not resuming:
                    check_no_unfinished_run(self.folder)
        except BaseException:  # refused: let go at once (a process of the API or the studio goes on)
            self.release()
            raise

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
        manifest = exported_manifest(self.models_dir, self.job.options.net, self.job.options.pool)
        if manifest is None:
            return  # exported on first use; the run makes its plan before any work then
        try:
            size = header_size(self.job.content)
        except NstError:
            return  # decoding it says precisely what is wrong
        self.plan = plan_stylize(size, self.job.options, manifest, len(self.job.styles),
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
        if options.gentle:
            reporters.reporters.append(BatteryPause(self._keep, self.warn or self.notify))
        if options.until is not None:
            self.deadline = Deadline(options.until)
            reporters.reporters.append(self.deadline)
        try:
            return stylize(content, styles, self.model, options, on_progress=reporters, masks=masks,
                           checkpoints=self.checkpointer, resume=self.resume_from, notify=self.notify, plan=self.plan)
        except BaseException:
            if self.folder is not None and not self.folder.checkpoint_file.exists():
                self.folder.clear()  # nothing to continue from: leave nothing behind
            raise

    def _keep(self) -> None:
        """The run's state written now (a pause on battery), where it has a run folder."""
        if self.checkpointer is not None:
            self.checkpointer.keep()

    @property
    def stopped_by_deadline(self) -> bool:
        """Whether the run ended at its --until time."""
        return self.deadline is not None and self.deadline.reached

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


def resume_runner(run_dir: Path, models_dir: Path, checkpoint_every: float = CHECKPOINT_EVERY,
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
    window = {"until": None, "start_at": None}  # a time window is this session's, not the recorded one's
    job = replace(job, options=replace(job.options, **{**window, **changes}))
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
