"""The studio's core: a queue of runs in the workspace, run one at a time (a 2-core laptop) by
the same job code as `nst stylize` and `nst upscale` (nst_ort/jobs/job.py), with progress events
and a preview for pages that watch, stop and resume.

A stop from the page ends the run as Ctrl-C does: the best image so far and a checkpoint are
kept, and resume continues it exactly. Runs that a server restart interrupted are offered for
resume; queued runs wait for the next start.

No path from a request is ever opened: a run reads only the files uploaded with it, and an
option that names a file (the schema's `names_file`: init) names one of those or one of its
words, else it is refused before anything looks at it.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any


from nst_base.errors import NstError
from nst_base.manifest import exported_manifest
from nst_ort.io.images import check_decodable, header_size
from nst_ort.jobs.job import Job, Outputs, upscale_job
from nst_ort.core.estimate import estimate_run
from nst_ort.jobs.lifecycle import complete, dry_run, settle, start
from nst_ort.jobs.run_folder import RunFolder
from nst_ort.jobs.runner import JobRunner, resume_runner
from nst_ort.jobs.status import Status
from nst_ort.options.defaults import PREVIEW_SECONDS, STUDIO_CHECKPOINT_EVERY
from nst_ort.options.recipes import recipe_options
from nst_ort.platform.energy import Energy
from nst_ort.platform.memory import available_bytes
from nst_ort.options.stylize import StylizeOptions
from nst_ort.options.clock import format_seconds
from nst_ort.options.schema import file_options
from nst_ort.studio.fields import FieldError, field_of, gallery_paintings, naming_uploads
from nst_ort.studio.previews import PreviewReporter
from nst_ort.studio.words import file_title, in_words, without_flags
from nst_ort.studio.workspace import RunRecord, Workspace, safe_name

QUEUE_ONLY = ("start_at",)  # the queue starts runs in turn: a run waiting for its time would hold the rest


Upload = tuple[str, bytes]  # a file as sent: its name and its bytes


class Studio:
    """The runs of a workspace and the one thread that runs them."""

    def __init__(self, workspace: Workspace, models_dir: Path, preview_seconds: float = PREVIEW_SECONDS) -> None:
        self.workspace, self.models_dir, self.preview_seconds = workspace, models_dir, preview_seconds
        self.current: str | None = None
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.closing = False
        self.watchers: dict[str, list[Callable[[dict], None]]] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="nst-studio-queue", daemon=True)

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Runs a restart interrupted are stopped (to resume); queued ones start in turn."""
        for record in self.workspace.all():
            if record.status is Status.RUNNING:
                self._update(record, status=Status.STOPPED, resume=True, error="interrupted by a server restart")
        self.thread.start()

    def close(self, wait: float = 60.0) -> None:
        """Stop the run under way (it keeps its best image and checkpoint) and the queue."""
        self.closing = True
        self.stopping.set()
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join(wait)

    # ---- what the page asks --------------------------------------------------------------------------

    def submit(self, content: Upload, styles: list[Upload], options: dict[str, Any], recipe: str = "gatys",
               masks: list[Upload] | None = None) -> RunRecord:
        """A new run from uploads (the photo, the paintings, optionally one mask per painting, in
        order) and options, checked before it is queued (FieldError). The option `paintings`
        names paintings of the gallery (studio/gallery.py), used after any uploaded ones."""
        masks = masks or []
        options = dict(options)
        gallery = gallery_paintings(options.pop("paintings", []))
        titles = [file_title(content[0]), *(file_title(name) for name, _ in styles), *(item.title for item in gallery)]
        styles = list(styles) + [(chosen.file, chosen.path.read_bytes()) for chosen in gallery]
        for name in QUEUE_ONLY:
            if options.get(name) is not None:
                raise FieldError(f"the studio starts runs in turn: --{name.replace('_', '-')} is for the command "
                                 f"line", name)
        if not content[1]:
            raise FieldError("choose a photo", "content")
        if not styles:
            raise FieldError("choose at least one painting", "style")
        if masks and len(masks) != len(styles):
            raise FieldError(f"give one mask per painting, in the paintings' order: {len(styles)} painting(s), "
                             f"{len(masks)} mask(s)", "mask")
        files = [(content, safe_name(content[0], "content.png"))]
        files += [(style, f"{index}_{safe_name(style[0], 'style.png')}") for index, style in enumerate(styles, 1)]
        files += [(mask, f"mask{index}_{safe_name(mask[0], 'mask.png')}") for index, mask in enumerate(masks, 1)]
        uploads = {sent: stored for (sent, _), stored in reversed(files)} | {stored: stored for _, stored in files}
        options = naming_uploads(options, uploads)
        with self._new_run() as (run_id, folder):
            for (_, data), stored in files:
                (folder / "inputs" / stored).write_bytes(data)
            names = [stored for _, stored in files]
            record = RunRecord(run_id, names[0], names[1:len(styles) + 1], options, recipe,
                               masks=names[len(styles) + 1:], titles=dict(zip(names, titles)))
            self._check_inputs(record, self._settings(record))
        self.workspace.save(record)
        self.wake.set()
        return record

    def inputs_of(self, run_id: str) -> tuple[Upload, list[Upload], list[Upload]]:
        """An earlier run's photo, paintings and masks, as uploads (to run it again with changes)."""
        content, styles, masks = self.workspace.inputs(self.workspace.load(run_id))
        as_sent = lambda paths: [(path.name.split("_", 1)[-1], path.read_bytes()) for path in paths]  # noqa: E731
        return (content.name, content.read_bytes()), as_sent(styles), as_sent(masks)

    def make_print(self, parent_id: str, size: int, options: dict[str, Any]) -> RunRecord:
        """The upscale job of a finished run: its picture taken up to `size` px."""
        parent = self.workspace.load(parent_id)
        result = self.workspace.folder(parent_id) / "result.png"
        if parent.status is not Status.DONE or not result.is_file():
            raise FieldError("only a finished picture can be made into a print", "size")
        changes = {key: value for key, value in options.items() if key in ("time_budget", "max_memory", "iterations")}
        with self._new_run() as (run_id, folder):
            content, styles, masks = self.workspace.inputs(parent)
            for path in (content, *styles, *masks):  # a print's inputs lie beside its chosen picture
                (folder / "inputs" / path.name).write_bytes(path.read_bytes())
            (folder / "inputs" / "chosen.png").write_bytes(result.read_bytes())
            record = RunRecord(run_id, parent.content, list(parent.styles), {"size": size, **changes}, parent.recipe,
                               kind="print", parent=parent_id, masks=list(parent.masks),
                               titles=dict(parent.titles))
            self._print_job(record, folder / "inputs" / "chosen.png", size, changes).options.validate()
        self.workspace.save(record)
        self.wake.set()
        return record

    def estimate(self, size: tuple[int, int], styles: int, masks: int, recipe: str, options: dict[str, Any],
                 runs: int = 1) -> dict:
        """What a new run would take (time, energy, memory), before its files are sent: the
        photo's size, how many paintings and masks, the options (a file option is left out);
        `runs` such runs: a sweep's."""
        options = dict(options)
        styles += len(gallery_paintings(options.pop("paintings", [])))
        named = {key: value for key, value in options.items()
                 if key not in {spec.name for spec in file_options(StylizeOptions)}}
        try:
            settings = recipe_options(recipe, None, **named)
            settings.validate()
            return in_words(estimate_run(size, settings, exported_manifest(self.models_dir, settings.net, settings.pool),
                                         max(1, styles), masks).as_dict(), available_bytes(), runs)
        except NstError as error:
            raise FieldError(str(error), field_of(error, "size")) from None

    def estimate_print(self, parent_id: str, size: int, changes: dict[str, Any]) -> dict:
        """What a print of a finished run would take, before it is queued."""
        parent = self.workspace.load(parent_id)
        chosen = self.workspace.folder(parent_id) / "result.png"
        if parent.status is not Status.DONE or not chosen.is_file():
            raise FieldError("only a finished picture can be made into a print", "size")
        job = self._print_job(parent, chosen, size, changes)
        try:
            return in_words(dry_run(job, self.models_dir).as_dict(), available_bytes())
        except NstError as error:
            raise FieldError(str(error), field_of(error, "size")) from None

    def stop(self, run_id: str) -> RunRecord:
        record = self.workspace.load(run_id)
        if record.status is Status.QUEUED:
            return self._update(record, status=Status.STOPPED)
        if record.status is Status.RUNNING and self.current == run_id:
            self.stopping.set()
        return self.workspace.load(run_id)

    def resume(self, run_id: str) -> RunRecord:
        record = self.workspace.load(run_id)
        if record.status not in (Status.STOPPED, Status.FAILED):
            raise FieldError(f"a {record.status} run cannot be resumed", "status")
        record = self._update(record, status=Status.QUEUED, resume=True, error="")
        self.wake.set()
        return record

    def delete(self, run_id: str) -> None:
        record = self.workspace.load(run_id)
        if record.status is Status.RUNNING:
            raise FieldError("stop the run before deleting it", "status")
        self.workspace.delete(run_id)

    def watch(self, run_id: str, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call `callback` with each event of the run; returns the function that stops it."""
        with self.lock:
            self.watchers.setdefault(run_id, []).append(callback)

        def unwatch() -> None:
            with self.lock:
                self.watchers.get(run_id, []).remove(callback)

        return unwatch

    # ---- the queue ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self.closing:
            queued = [record for record in self.workspace.all() if record.status is Status.QUEUED]
            if not queued:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            self._run(min(queued, key=lambda record: record.created))

    def _run(self, record: RunRecord) -> None:
        """One run through the job life cycle (jobs/lifecycle.py); its ending in its record."""
        self.current = record.id
        self.stopping.clear()
        record = self._update(record, status=Status.RUNNING, started=time.time(), error="")
        try:
            ending = settle(lambda: complete(self._runner(record)))
        finally:
            self.current = None
        kept = ending.result is not None and ending.status is Status.STOPPED  # resumes from its checkpoint
        summary = ""
        if ending.result is not None:
            report = ending.result.report
            summary = f"in {format_seconds(report['total_seconds'])}, {Energy.from_dict(report['energy']).describe()}"
        self._update(record, status=ending.status, resume=kept, finished=time.time(), summary=summary,
                     error=without_flags(self.workspace.without_paths(ending.error)))

    def _runner(self, record: RunRecord) -> JobRunner:
        """A run started (or resumed from its run folder) with the page's preview reporter."""
        folder = self.workspace.folder(record.id)
        run_folder = RunFolder(folder / "job.nst-run")
        reporter = PreviewReporter(self, record.id, folder)
        if record.resume and run_folder.checkpoint_file.is_file():
            return resume_runner(run_folder.path, self.models_dir, STUDIO_CHECKPOINT_EVERY, [reporter])
        content, styles, masks = self.workspace.inputs(record)
        outputs = Outputs(folder / "result.png", folder / "report.json")
        if record.kind == "print":
            job = replace(self._print_job(record, folder / "inputs" / "chosen.png", int(record.options["size"]),
                                          {k: v for k, v in record.options.items() if k != "size"}), outputs=outputs)
        else:
            job = Job(content, styles, self._settings(record), masks, outputs, explicit_size="size" in record.options)
        return start(job, self.models_dir, run_folder, restart=True, checkpoint_every=STUDIO_CHECKPOINT_EVERY,
                     reporters=[reporter])

    def _print_job(self, record: RunRecord, chosen: Path, size: int, changes: dict) -> Job:
        content, styles, masks = self.workspace.inputs(record)
        try:
            return upscale_job(chosen, size, Outputs(), content, styles, masks, **changes)
        except NstError as error:
            raise FieldError(str(error), field_of(error, "size")) from None

    def _settings(self, record: RunRecord) -> StylizeOptions:
        """A run's options, validated, its file options (init) taken to the files uploaded with it."""
        options = dict(record.options)
        for spec in file_options(StylizeOptions):
            value = options.get(spec.name)
            if value is not None and value not in spec.option.words:
                options[spec.name] = str(self.workspace.runs / record.id / "inputs" / safe_name(value, "missing"))
        try:
            settings = recipe_options(record.recipe, None, **options)
            settings.validate()
        except NstError as error:
            raise FieldError(str(error), field_of(error)) from None
        return settings

    @contextmanager
    def _new_run(self) -> Iterator[tuple[str, Path]]:
        """A new run's folder, removed again if what is put in it is refused."""
        run_id, folder = self.workspace.new_folder()
        try:
            yield run_id, folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _check_inputs(self, record: RunRecord, settings) -> None:
        """Images that are images, and a plan that fits, before the run is queued."""
        content, styles, masks = self.workspace.inputs(record)
        named = [(content, "content"), *((style, "style") for style in styles), *((mask, "mask") for mask in masks)]
        for path, name in named:
            try:
                size = header_size(path)
            except NstError:
                raise FieldError(f"{path.name} is not an image file this studio can read", name) from None
            try:
                check_decodable(path, size, limit=None)  # the one decode guard, as the command line's
            except NstError as error:
                raise FieldError(str(error).replace(str(path), path.name), name) from None
        job = Job(content, styles, settings, masks, explicit_size="size" in record.options)
        try:
            JobRunner(job, self.models_dir).check_memory()
        except NstError as error:
            raise FieldError(str(error), field_of(error, "size")) from None

    def _update(self, record: RunRecord, **changes: Any) -> RunRecord:
        record = self.workspace.update(record.id, **changes)  # as on disk: progress is saved as it goes
        self.publish(record.id, {"event": "status", "status": record.status, "error": record.error})
        return record

    def publish(self, run_id: str, event: dict) -> None:
        with self.lock:
            callbacks = list(self.watchers.get(run_id, []))
        for callback in callbacks:
            callback(event)

    def watched(self, run_id: str) -> bool:
        with self.lock:
            return bool(self.watchers.get(run_id))
