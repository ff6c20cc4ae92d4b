"""A job's life cycle, the same for every front end (the CLI, the Python API, the studio,
batches):

    start     the outputs checked and locked with the run folder (an unfinished run there is
              not overwritten), the memory plan made from the content's header: a run that
              cannot fit is refused in one line before any work;
    resume    the same for a run kept in a run folder (jobs/runner.py's resume_runner);
    complete  inputs decoded, the level loop run, the outputs written, the locks let go;
    settle    what became of it as a Status, for front ends that go on after a job (a batch's
              next item, the studio's queue): a failure is a one-line reason, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nst_base.errors import NstError
from nst_base.manifest import exported_manifest
from nst_ort.core.estimate import RunEstimate, estimate_run
from nst_ort.core.levels import StylizeResult
from nst_ort.io.images import PIXEL_LIMIT, check_decodable, header_size
from nst_ort.jobs.job import Job
from nst_ort.jobs.run_folder import RunFolder
from nst_ort.jobs.runner import JobRunner
from nst_ort.jobs.signals import StopSignals
from nst_ort.jobs.status import Status
from nst_ort.jobs.window import wait_for_start, yield_priority
from nst_ort.options.defaults import CHECKPOINT_EVERY


class StopRequested(KeyboardInterrupt):
    """A stop a front end asks for (the studio's page): the run ends as on Ctrl-C, keeping its
    best image and checkpoint."""


@dataclass(frozen=True)
class Ending:
    """What became of a job."""

    status: Status
    result: StylizeResult | None = None
    error: str = ""  # the one-line reason of a failure (or of a stop before the first iteration)
    seconds: float = 0.0


def start(job: Job, models_dir: Path, folder: RunFolder | None, *, restart: bool = False,
          checkpoint_every: float = CHECKPOINT_EVERY, reporters: list | None = None,
          notify: Callable[[str], None] = lambda message: None,
          warn: Callable[[str], None] | None = None) -> JobRunner:
    """A new job, claimed and planned (see the module's docstring); `restart` drops an
    unfinished run kept in `folder` instead of refusing to start over it."""
    runner = JobRunner(job, models_dir, folder, checkpoint_every, list(reporters or []), notify=notify, warn=warn)
    runner.claim(restart)
    try:
        runner.check_memory()
    except BaseException:
        runner.release()
        raise
    return runner


def dry_run(job: Job, models_dir: Path) -> RunEstimate:
    """What the job would take (plan, time, energy), checked as a real start checks it (the
    outputs, the inputs from their headers) but writing nothing: no model export, no lock,
    no run folder."""
    job.check_outputs()
    for path in job.input_files():
        check_decodable(path, header_size(path), limit=None if job.explicit_size else PIXEL_LIMIT,
                        memory_limit=job.options.max_memory)
    manifest = exported_manifest(models_dir, job.options.net, job.options.pool)
    return estimate_run(header_size(job.content), job.options, manifest, len(job.styles), len(job.masks))


def complete(runner: JobRunner, stop: StopSignals | None = None) -> StylizeResult:
    """Run a started or resumed job to its end and write its outputs; with `stop`, a stop
    signal from the moment the outputs are being written waits until they are."""
    try:
        if runner.images is None:
            runner.load()
        wait_for_start(runner.job.options.start_at, runner.notify)
        if runner.job.options.gentle:
            yield_priority()
        result = runner.run()
        if stop is not None:
            stop.interruptible = False
        runner.finish(result)
        return result
    finally:
        runner.release()


def settle(work: Callable[[], StylizeResult]) -> Ending:
    """Run `work` (a job's start and completion) and say how it ended: DONE, STOPPED (a stop
    kept its best image; before the first iteration, nothing), or FAILED with its reason."""
    began = time.perf_counter()

    def ended(status: Status, error: str = "", result: StylizeResult | None = None) -> Ending:
        return Ending(status, result, error, time.perf_counter() - began)

    try:
        result = work()
    except StopRequested:
        return ended(Status.STOPPED, "stopped before it began")
    except NstError as error:
        return ended(Status.FAILED, str(error))
    except MemoryError:
        return ended(Status.FAILED, "out of memory")
    except Exception as error:  # noqa: BLE001 - the front end goes on; the job says what happened
        return ended(Status.FAILED, f"internal error: {type(error).__name__}: {error}")
    return ended(Status.STOPPED if result.outcome.interrupted else Status.DONE, result=result)
