"""A clip as `nst video` runs it: frame by frame on this machine (video/run.py), or its shots
side by side on worker processes or a Dask cluster (video/shots.py); what a front end tells
the user on the way, and how the clip ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nst_base.errors import NstError
from nst_ort.core.optimize import ProgressCallback
from nst_ort.jobs.job import default_run_folder
from nst_ort.jobs.run_folder import RunFolder
from nst_ort.jobs.signals import StopSignals
from nst_ort.jobs.status import Status
from nst_ort.video.run import VideoJob, VideoRunner, check_job


@dataclass(frozen=True)
class ClipEnding:
    """How a clip ended: DONE (`message` names what was written) or STOPPED (what is kept)."""

    status: Status
    message: str


def stylize_clip(job: VideoJob, models_dir: Path, stop: StopSignals, *, workers: int = 1, cuts: str | None = None,
                 cluster: str | None = None, restart: bool = False, first_frame_progress: ProgressCallback | None = None,
                 say: Callable[[str], None] = lambda line: None) -> ClipEnding:
    """Stylise the clip: in shots when `workers` > 1, `cuts` or `cluster` asks for them, else in
    order here. A stop signal (`stop`) keeps the frames finished: the same command continues."""
    info = check_job(job)
    if not 1 <= workers <= 64:
        raise NstError(f"--workers must be between 1 and 64, not {workers}")
    if workers > 1 or cuts is not None or cluster is not None:
        return _in_shots(job, cuts or "auto", workers, models_dir, restart, cluster, say)
    from export.pipeline import ensure_exported
    from nst_ort.io.images import load_image

    options = job.options
    styles = [load_image(path, draft_long_side=round(options.size * max(1.0, options.style_scale)),
                         memory_limit=options.max_memory) for path in job.styles]
    model = ensure_exported(models_dir, options.net, options.pool, say)
    runner = VideoRunner(job, model, styles, RunFolder(default_run_folder(job.output)),
                         first_frame_progress=first_frame_progress, say=say, restart=restart)
    rate = info.rate(job.video.window)
    say(f"stylizing {runner.count} frames of {job.source.name} ({info.size[0]}x{info.size[1]}, {rate:g} fps) at "
        f"{runner.size[0]}x{runner.size[1]} with {', '.join(s.name for s in job.styles)}: the first frame "
        f"{options.final_iterations()} iterations per level, then {job.video.frame_iterations} per frame, temporal "
        f"weight {job.video.temporal_weight:g}")
    if abs(rate - info.fps) > 1e-6:
        say(f"note: {job.source.name} runs at {info.fps:g} fps; taking it at {rate:g} fps "
            f"{'drops' if rate < info.fps else 'repeats'} frames")
    try:
        result = runner.run()
        stop.interruptible = False  # the output is assembled whole or not at all
        if result.interrupted or stop.received is not None:
            return ClipEnding(Status.STOPPED, f"stopped: {runner.finished()} of {runner.count} frames are done and "
                                              f"kept in {runner.folder.path}; run the same command again to continue")
        runner.assemble(result)
    finally:
        runner.release()
    return ClipEnding(Status.DONE, f"wrote {job.output} ({runner.count} frames, {runner.size[0]}x{runner.size[1]})")


def estimate_clip(job: VideoJob, models_dir: Path) -> list[str]:
    """--dry-run: the first frame's plan, the later frames' time, and the total time and
    energy, writing nothing."""
    from nst_base.manifest import exported_manifest
    from nst_ort.core.estimate import estimate_run
    from nst_ort.options.clock import format_seconds
    from nst_ort.platform.energy import describe_wh, estimate_wh

    info = check_job(job)
    options, window = job.options, job.video.window
    first = estimate_run(info.size, options, exported_manifest(models_dir, options.net, options.pool), len(job.styles))
    count = info.frame_count(window)
    per_iteration = first.level_seconds[-1] / max(1, first.plan.levels[-1].iterations)
    later = (count - 1) * job.video.frame_iterations * per_iteration
    total = first.seconds + later
    return [f"{count} frames at {info.rate(window):g} fps; the first frame:", *first.lines()[:-1],
            f"then {count - 1} frames of {job.video.frame_iterations} iterations: about {format_seconds(later)}",
            f"about {format_seconds(total)} and {describe_wh(estimate_wh(total, first.threads))} on {first.threads} "
            f"thread{'s' if first.threads > 1 else ''} (one process; --workers share the cores)"]


def _in_shots(job: VideoJob, cuts: str, workers: int, models_dir: Path, restart: bool, cluster: str | None,
              say: Callable[[str], None]) -> ClipEnding:
    from nst_ort.video.shots import plan_shots, stylize_in_shots, stylize_shots_on_cluster

    if restart:
        raise NstError("--restart is for a clip run without --workers; remove OUTPUT.nst-run's shots to start over")
    shots = plan_shots(job, cuts)
    say(f"{len(shots)} shot{'s' if len(shots) > 1 else ''} of {job.source.name} "
        f"({', '.join(f'{shot.duration:.2f} s' for shot in shots)}) on "
        f"{f'the cluster at {cluster}' if cluster else f'{workers} workers'}")
    try:
        if cluster is not None:
            stylize_shots_on_cluster(job, shots, models_dir, cluster, say)
            complete = True
        else:
            complete = stylize_in_shots(job, shots, models_dir, workers, say)
    except KeyboardInterrupt:
        complete = False
    if not complete:
        return ClipEnding(Status.STOPPED, "stopped: the finished frames of every shot are kept; run the same command "
                                          "again to continue")
    return ClipEnding(Status.DONE, f"wrote {job.output}")
