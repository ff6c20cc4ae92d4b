"""The studio's core: a queue of runs in the workspace, run one at a time (a 2-core laptop) by
the same job code as `nst stylize` and `nst upscale` (nst_ort/job.py), with progress events
and a preview for pages that watch, stop and resume.

A stop from the page ends the run as Ctrl-C does: the best image so far and a checkpoint are
kept, and resume continues it exactly. Runs that a server restart interrupted are offered for
resume; queued runs wait for the next start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nst_base.errors import NstError
from nst_ort.images import header_size, to_image
from nst_ort.optimize import Progress
from nst_ort.progress import format_seconds
from nst_ort.studio.workspace import RunRecord, Workspace, safe_name

PREVIEW_SECONDS = 1.5  # at most one preview this often, and only while a page watches
PREVIEW_SIDE = 640
SAVE_SECONDS = 1.0  # the run's progress written to its record at most this often
CHECKPOINT_EVERY = 120.0  # seconds


class StopRequested(KeyboardInterrupt):
    """A stop from the page: the optimiser keeps its best image, as on Ctrl-C."""


class FieldError(NstError):
    """Bad input, with the form field it belongs to."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def field_of(message: str, fallback: str = "options") -> str:
    """The option a one-line error names (`--style-weight must ...` -> style_weight)."""
    for word in message.replace(":", " ").split():
        if word.startswith("--") and len(word) > 2:
            return word[2:].replace("-", "_").rstrip(",.")
    return fallback


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
            if record.status == "running":
                self._update(record, status="stopped", resume=True, error="interrupted by a server restart")
        self.thread.start()

    def close(self, wait: float = 60.0) -> None:
        """Stop the run under way (it keeps its best image and checkpoint) and the queue."""
        self.closing = True
        self.stopping.set()
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join(wait)

    # ---- what the page asks --------------------------------------------------------------------------

    def submit(self, content: tuple[str, bytes], styles: list[tuple[str, bytes]], options: dict[str, Any],
               recipe: str = "gatys") -> RunRecord:
        """A new run from uploads and options, checked before it is queued (FieldError)."""
        if not content[1]:
            raise FieldError("choose a photo", "content")
        if not styles:
            raise FieldError("choose at least one painting", "style")
        settings = self._options(recipe, options)
        run_id, folder = self.workspace.new_folder()
        try:
            content_name = safe_name(content[0], "content.png")
            (folder / "inputs" / content_name).write_bytes(content[1])
            style_names = []
            for index, (name, data) in enumerate(styles):
                style_name = f"{index + 1}_{safe_name(name, 'style.png')}"
                (folder / "inputs" / style_name).write_bytes(data)
                style_names.append(style_name)
            record = RunRecord(run_id, content_name, style_names, dict(options), recipe)
            self._check_inputs(record, settings)
        except BaseException:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.workspace.save(record)
        self.wake.set()
        return record

    def inputs_of(self, run_id: str) -> tuple[tuple[str, bytes], list[tuple[str, bytes]]]:
        """An earlier run's photo and paintings, as uploads (to run it again with changes)."""
        content, styles = self.workspace.inputs(self.workspace.load(run_id))
        return (content.name, content.read_bytes()), [(path.name.split("_", 1)[-1], path.read_bytes()) for path in styles]

    def make_print(self, parent_id: str, size: int, options: dict[str, Any]) -> RunRecord:
        """The upscale job of a finished run: its picture taken up to `size` px."""
        parent = self.workspace.load(parent_id)
        result = self.workspace.folder(parent_id) / "result.png"
        if parent.status != "done" or not result.is_file():
            raise FieldError("only a finished picture can be made into a print", "size")
        changes = {key: value for key, value in options.items() if key in ("time_budget", "max_memory", "iterations")}
        self._print_job(parent, result, size, changes).options.validate()
        run_id, folder = self.workspace.new_folder()
        content, styles = self.workspace.inputs(parent)
        for path in (content, *styles):
            (folder / "inputs" / path.name).write_bytes(path.read_bytes())
        (folder / "inputs" / "chosen.png").write_bytes(result.read_bytes())
        record = RunRecord(run_id, parent.content, list(parent.styles), {"size": size, **changes}, parent.recipe,
                           kind="print", parent=parent_id)
        self.workspace.save(record)
        self.wake.set()
        return record

    def stop(self, run_id: str) -> RunRecord:
        record = self.workspace.load(run_id)
        if record.status == "queued":
            return self._update(record, status="stopped")
        if record.status == "running" and self.current == run_id:
            self.stopping.set()
        return self.workspace.load(run_id)

    def resume(self, run_id: str) -> RunRecord:
        record = self.workspace.load(run_id)
        if record.status not in ("stopped", "failed"):
            raise FieldError(f"a {record.status} run cannot be resumed", "status")
        record = self._update(record, status="queued", resume=True, error="")
        self.wake.set()
        return record

    def delete(self, run_id: str) -> None:
        record = self.workspace.load(run_id)
        if record.status == "running":
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
            queued = [record for record in self.workspace.all() if record.status == "queued"]
            if not queued:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            self._run(min(queued, key=lambda record: record.created))

    def _run(self, record: RunRecord) -> None:
        self.current = record.id
        self.stopping.clear()
        record = self._update(record, status="running", started=time.time(), error="")
        try:
            runner = self._runner(record)
            runner.load()
            result = runner.run()
            runner.finish(result)
            runner.release()
            interrupted = result.outcome.interrupted
            self._update(record, status="stopped" if interrupted else "done", resume=interrupted,
                         finished=time.time(), error="stopped" if interrupted else "")
        except StopRequested:
            self._update(record, status="stopped", resume=False, finished=time.time(), error="stopped before it began")
        except NstError as error:
            self._update(record, status="failed", finished=time.time(), error=str(error))
        except MemoryError:
            self._update(record, status="failed", finished=time.time(), error="out of memory")
        except Exception as error:  # noqa: BLE001 - the queue goes on; the run says what happened
            self._update(record, status="failed", finished=time.time(), error=f"internal error: {error}")
        finally:
            self.current = None

    def _runner(self, record: RunRecord):
        from nst_ort.job import Job, JobRunner, Outputs, resume_runner
        from nst_ort.runstate import RunFolder

        folder = self.workspace.folder(record.id)
        run_folder = RunFolder(folder / "job.nst-run")
        reporter = PreviewReporter(self, record.id, folder)
        if record.resume and run_folder.checkpoint_file.is_file():
            runner = resume_runner(run_folder.path, self.models_dir, CHECKPOINT_EVERY, [reporter])
            return runner
        content, styles = self.workspace.inputs(record)
        outputs = Outputs(folder / "result.png", folder / "report.json")
        if record.kind == "print":
            job = replace(self._print_job(record, folder / "inputs" / "chosen.png", int(record.options["size"]),
                                          {k: v for k, v in record.options.items() if k != "size"}), outputs=outputs)
        else:
            job = Job(content, styles, self._options(record.recipe, record.options), outputs=outputs,
                      explicit_size="size" in record.options)
        runner = JobRunner(job, self.models_dir, run_folder, CHECKPOINT_EVERY, [reporter])
        runner.claim(restart=True)
        runner.check_memory()
        return runner

    def _print_job(self, record: RunRecord, chosen: Path, size: int, changes: dict):
        from nst_ort.job import Outputs, upscale_job

        content, styles = self.workspace.inputs(record)
        try:
            return upscale_job(chosen, size, Outputs(), content, styles, **changes)
        except NstError as error:
            raise FieldError(str(error), field_of(str(error), "size")) from None

    def _options(self, recipe: str, options: dict[str, Any]):
        from nst_ort.recipes import recipe_options

        try:
            settings = recipe_options(recipe, None, **options)
            settings.validate()
        except NstError as error:
            raise FieldError(str(error), field_of(str(error))) from None
        return settings

    def _check_inputs(self, record: RunRecord, settings) -> None:
        """Images that are images, and a plan that fits, before the run is queued."""
        from nst_ort.job import Job, JobRunner

        content, styles = self.workspace.inputs(record)
        for path, name in [(content, "content"), *((style, "style") for style in styles)]:
            try:
                header_size(path)
            except NstError:
                raise FieldError(f"{path.name} is not an image file this studio can read", name) from None
        job = Job(content, styles, settings, explicit_size="size" in record.options)
        try:
            JobRunner(job, self.models_dir).check_memory()
        except NstError as error:
            raise FieldError(str(error), field_of(str(error), "size")) from None

    def _update(self, record: RunRecord, **changes: Any) -> RunRecord:
        record = replace(self.workspace.load(record.id), **changes)  # as on disk: progress is saved as it goes
        self.workspace.save(record)
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


class PreviewReporter:
    """Progress of a studio run: an event per iteration, the preview image while a page watches,
    the stop the page asked for."""

    def __init__(self, studio: Studio, run_id: str, folder: Path) -> None:
        self.studio, self.run_id, self.folder = studio, run_id, folder
        self.last_preview = self.last_saved = 0.0

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        studio = self.studio
        if studio.stopping.is_set():
            raise StopRequested
        left = progress.seconds_per_iteration * (progress.iterations - progress.iteration) + progress.later_levels_seconds
        event = {"event": "progress", "level": progress.level, "levels": progress.levels,
                 "iteration": progress.iteration, "iterations": progress.iterations, "loss": progress.loss,
                 "elapsed": format_seconds(progress.run_seconds or progress.elapsed), "eta": format_seconds(left),
                 "preview": False}
        now = time.monotonic()
        if studio.watched(self.run_id) and now - self.last_preview >= studio.preview_seconds:
            self.last_preview = now
            self._write_preview(pixels)
            event["preview"] = True
        if now - self.last_saved >= SAVE_SECONDS or progress.iteration == progress.iterations:
            self.last_saved = now  # the history's progress, at most once a second
            record = studio.workspace.load(self.run_id)
            studio.workspace.save(replace(record, progress={k: v for k, v in event.items() if k != "event"}))
        studio.publish(self.run_id, event)

    def _write_preview(self, pixels: np.ndarray) -> None:
        from nst_base.files import atomic_file

        image = to_image(pixels)
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        with atomic_file(self.folder / "preview.jpg") as tmp:
            image.save(tmp, format="JPEG", quality=85)
