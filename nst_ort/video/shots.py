"""A clip's shots, stylised in parallel (`nst video --workers N`).

Temporal consistency ties each frame to the one before it, so frames within a shot stay in
order; at a cut nothing carries over, so shots are independent: each runs in a worker process
of its own (its own run folder inside OUTPUT.nst-run/, continued after a stop like a whole
clip), and the output is assembled from the shots' frames in order, with the input's sound.
Cuts are found where a frame differs from the one before it far more than frames of the clip
usually do, or given in seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from itertools import chain
from multiprocessing import active_children, get_context
from pathlib import Path

import numpy as np
from PIL import Image

from nst_base.cores import usable_cores
from nst_base.errors import NstError
from nst_base.files import atomic_file
from nst_ort.jobs.run_folder import RunFolder
from nst_ort.io.images import fit_long_side
from nst_ort.video.frames import ClipInfo, Window, output_kind, read_frames, write_clip
from nst_ort.video.run import VideoJob, VideoRunner, check_job

CUT_RATIO = 4.0  # a cut: a frame difference this many times the clip's median difference ...
CUT_FLOOR = 0.06  # ... and at least this (mean absolute difference of RGB thumbnails, 0..1)
THUMB = 64  # long side of the thumbnails compared
SHOTS = "shots.json"  # in OUTPUT.nst-run: the job and its shots
SHOT = re.compile(r"shot-\d{3}(-out)?")  # a shot's run folder (and its output name, never written)


def find_cuts(info: ClipInfo, window: Window) -> list[int]:
    """Indices of the window's frames where a new shot starts (never 0)."""
    size = fit_long_side(info.size, THUMB)
    thumbs = [frame.astype(np.float32) / 255.0 for frame in read_frames(info, window, size)]
    differences = np.array([np.abs(b - a).mean() for a, b in zip(thumbs, thumbs[1:])])
    if differences.size == 0:
        return []
    threshold = max(CUT_FLOOR, CUT_RATIO * float(np.median(differences)))
    return [index + 1 for index, difference in enumerate(differences) if difference > threshold]


def cuts_from_seconds(seconds: list[float], window: Window, rate: float, count: int) -> list[int]:
    """Frame indices of cuts given in seconds of the input."""
    indices = sorted({round((second - window.start) * rate) for second in seconds})
    if any(not 0 < index < count for index in indices):
        raise NstError(f"--cuts must lie inside the stylised part ({window.start:g} s to "
                       f"{window.start + count / rate:g} s), not {', '.join(f'{s:g}' for s in seconds)}")
    return indices


def shot_windows(window: Window, rate: float, count: int, cuts: list[int]) -> list[Window]:
    """The window split at the cuts (frame indices), each shot a window of its own frames."""
    edges = [0, *cuts, count]
    return [Window(window.start + first / rate, (last - first) / rate, rate) for first, last in zip(edges, edges[1:])]


def _shot_job(job: VideoJob, index: int, shot: Window, base: Path) -> VideoJob:
    """A shot as a job of its own: its frames kept in its run folder (never an output)."""
    return replace(job, output=base / f"shot-{index + 1:03d}-out", report=None, video=replace(job.video, window=shot))


def run_shot(job: VideoJob, index: int, shot: Window, base: Path, models_dir: Path) -> int:
    """In a worker process: one shot's frames, in order, kept in its run folder; how many are done."""
    from export.pipeline import ensure_exported
    from nst_ort.io.images import load_image

    options = job.options
    model = ensure_exported(models_dir, options.net, options.pool)
    styles = [load_image(path, draft_long_side=round(options.size * max(1.0, options.style_scale))) for path in job.styles]
    runner = VideoRunner(_shot_job(job, index, shot, base), model, styles, RunFolder(base / f"shot-{index + 1:03d}"))
    result = runner.run()
    return -1 if result.interrupted else runner.finished()


def check_base(base: Path) -> None:
    """The shots' folder (OUTPUT.nst-run) holds only shots of nst-ort's, or nothing."""
    if base.is_file():
        raise NstError(f"{base} is a file: the shots of a clip are kept in a folder of that name")
    entries = sorted(base.iterdir()) if base.is_dir() else []
    foreign = [entry.name for entry in entries if not (entry.name == SHOTS or SHOT.fullmatch(entry.name))]
    if foreign:
        raise NstError(f"{base} holds {foreign[0]}: a run of this clip without --workers is kept there "
                       f"(continue it the same way) or files nst-ort did not write")


def run_in_shots(job: VideoJob, shots: list[Window], base: Path, models_dir: Path, workers: int,
                 say=lambda line: None) -> bool:
    """Every shot in worker processes; True when all are done. A stop signal ends the workers
    (each keeps the frames it finished) and raises KeyboardInterrupt."""
    check_base(base)
    base.mkdir(parents=True, exist_ok=True)
    with atomic_file(base / SHOTS) as tmp:
        tmp.write_text(json.dumps({"job": job.to_dict(), "shots": [[s.start, s.duration] for s in shots]}, default=str))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_shot, job, index, shot, base, models_dir) for index, shot in enumerate(shots)]
        try:
            done = []
            for index, future in enumerate(futures):
                frames = future.result()
                done.append(frames >= 0)
                say(f"shot {index + 1}/{len(shots)}: " + (f"{frames} frames" if frames >= 0 else "stopped"))
        except KeyboardInterrupt:
            for child in active_children():  # the finished frames are on disk, each written atomically
                child.terminate()
            raise
    return all(done)


def assemble_shots(job: VideoJob, shots: list[Window], base: Path, models_dir: Path) -> None:
    """The output from the shots' frames in order, with the sound of the whole window; then the
    shots' run folders go."""
    from export.pipeline import ensure_exported

    info = check_job(job)
    model = ensure_exported(models_dir, job.options.net, job.options.pool)
    stand_ins = [Image.new("RGB", (16, 16))] * len(job.styles)  # the frames are made: no style is needed
    runners = [VideoRunner(_shot_job(job, index, shot, base), model, stand_ins, RunFolder(base / f"shot-{index + 1:03d}"))
               for index, shot in enumerate(shots)]
    if any(runner.finished() < runner.count for runner in runners):
        raise NstError("not every shot is done: run the same command again to continue")
    audio = (info, job.video.window) if output_kind(job.output) == "video" else None
    write_clip(chain.from_iterable(runner.finished_frames() for runner in runners), job.output,
               info.rate(job.video.window), audio)
    if job.report is not None:
        with atomic_file(job.report) as tmp:
            tmp.write_text(json.dumps({"job": job.to_dict(), "frames": sum(r.count for r in runners),
                                       "shots": [{"start": shot.start, "seconds": shot.duration, "frames": r.count}
                                                 for shot, r in zip(shots, runners)]}, indent=2, default=str) + "\n")
    for runner in runners:
        runner.folder.clear()
        runner.release()
    (base / SHOTS).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        base.rmdir()


def plan_shots(job: VideoJob, cuts: str) -> list[Window]:
    """The shots of the job's window: cuts `auto` (found in the input), `none`, or seconds
    `12.5,30`; one line if the seconds do not fit."""
    from nst_ort.options.schema import parse_numbers

    info = check_job(job)
    window = job.video.window
    rate, count = info.rate(window), info.frame_count(window)
    if cuts == "auto":
        indices = find_cuts(info, window)
    elif cuts == "none":
        indices = []
    else:
        indices = cuts_from_seconds(list(parse_numbers(cuts)), window, rate, count)
    return shot_windows(window, rate, count, indices)


def stylize_in_shots(job: VideoJob, shots: list[Window], models_dir: Path, workers: int,
                     say=lambda line: None) -> bool:
    """A clip's shots on `workers` processes (the cores divided among them), then the output
    assembled; False if a stop left shots unfinished (the same command continues them)."""
    from nst_base.locks import PathLocks
    from nst_ort.jobs.job import default_run_folder

    threads = job.options.threads or max(1, usable_cores() // workers)
    job = replace(job, options=replace(job.options, threads=threads))
    base = default_run_folder(job.output)
    with PathLocks([*job.output_paths(), base]):
        if not run_in_shots(job, shots, base, models_dir, workers, say):
            return False
        assemble_shots(job, shots, base, models_dir)
    return True


def _png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    return buffer.getvalue()


def run_shot_remote(job: VideoJob, index: int, frames: list[bytes], rate: float, styles: dict[str, bytes],
                    models_dir: str | None) -> list[bytes]:
    """On a Dask worker: one shot from its frames (lossless PNG at the clip's own size, taken
    whole at `rate`), its stylised frames returned in order."""
    import tempfile

    from export.pipeline import ensure_exported
    from nst_base.manifest import default_models_dir
    from nst_ort.platform.dask_client import worker_share
    from nst_ort.io.images import load_image

    with tempfile.TemporaryDirectory(prefix="nst-shot-") as folder:
        work = Path(folder)
        source = work / "frames"
        source.mkdir()
        for number, data in enumerate(frames):
            (source / f"{number:06d}.png").write_bytes(data)
        style_paths = []
        for number, (name, data) in enumerate(styles.items()):
            target = work / "styles" / str(number) / Path(name).name  # keeps the file's own name
            target.parent.mkdir(parents=True)
            target.write_bytes(data)
            style_paths.append(target)
        share = worker_share()
        options = replace(job.options, threads=job.options.threads or share["threads"],
                          max_memory=job.options.max_memory or share["max_memory"])
        shot_job = replace(job, source=source, styles=tuple(style_paths), output=work / "out", report=None,
                           options=options, video=replace(job.video, window=Window(0.0, None, rate)))
        model = ensure_exported(Path(models_dir) if models_dir else default_models_dir(), options.net, options.pool)
        images = [load_image(path, draft_long_side=round(options.size * max(1.0, options.style_scale)))
                  for path in style_paths]
        runner = VideoRunner(shot_job, model, images, RunFolder(work / f"shot-{index + 1:03d}"))
        if runner.run().interrupted:
            raise NstError(f"shot {index + 1} was stopped on its worker")
        return [runner.frame_path(number).read_bytes() for number in range(runner.count)]


def stylize_shots_on_cluster(job: VideoJob, shots: list[Window], models_dir: Path, address: str,
                             say=lambda line: None) -> None:
    """A clip's shots on a Dask cluster: each shot's frames sent to a worker, its stylised frames
    kept in the shot's run folder here as they come (a rerun sends only unfinished shots), then
    the output assembled. A shot lost with its worker is run again by Dask."""
    from nst_base.locks import PathLocks
    from nst_ort.platform.dask_client import connect, require_distributed
    from nst_ort.jobs.job import default_run_folder

    distributed = require_distributed()
    info = check_job(job)
    base = default_run_folder(job.output)
    check_base(base)
    stand_ins = [Image.new("RGB", (16, 16))] * len(job.styles)  # the frames come made: no style is needed here
    with PathLocks([*job.output_paths(), base]):
        client = connect(address)
        try:
            styles = {str(path): path.read_bytes() for path in job.styles}
            futures = {}
            for index, shot in enumerate(shots):
                runner = _shot_runner(job, index, shot, base, models_dir, stand_ins)
                runner.release()
                if runner.finished() == runner.count:
                    continue  # done by an earlier run
                frames = [_png(frame) for frame in read_frames(info, shot, info.size)]
                future = client.submit(run_shot_remote, job, index, frames, info.rate(shot), styles, None,
                                       pure=False, key=f"nst-shot-{index + 1}-{uuid.uuid4().hex[:8]}")
                futures[future] = (index, shot)
            say(f"on {address}: {len(client.scheduler_info()['workers'])} workers, {len(futures)} shots")
            for future in distributed.as_completed(futures):
                index, shot = futures[future]
                runner = _shot_runner(job, index, shot, base, models_dir, stand_ins)
                for number, data in enumerate(future.result()):
                    with atomic_file(runner.frame_path(number)) as tmp:
                        tmp.write_bytes(data)
                runner.release()
                say(f"shot {index + 1}/{len(shots)}: {runner.count} frames")
        finally:
            client.close()
        assemble_shots(job, shots, base, models_dir)


def _shot_runner(job: VideoJob, index: int, shot: Window, base: Path, models_dir: Path,
                 stand_ins: list) -> VideoRunner:
    """A shot's runner here (its run folder opened and locked), to keep the frames a worker sent back."""
    from export.pipeline import ensure_exported

    model = ensure_exported(models_dir, job.options.net, job.options.pool)
    return VideoRunner(_shot_job(job, index, shot, base), model, stand_ins, RunFolder(base / f"shot-{index + 1:03d}"))
