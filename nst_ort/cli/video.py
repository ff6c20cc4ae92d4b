"""`nst video`: a clip stylised frame by frame (nst_ort/video/clip.py runs it)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from nst_ort.cli.common import (REPLACED, DryRun, ModelsDir, Opt, Quiet, Recipe, Similarity, app, models_folder, resolved,
                                run_options, say, silent, stop_signals, terminal, with_options)
from nst_ort.options.defaults import FRAME_ITERATIONS, TEMPORAL_WEIGHT
from nst_ort.options.schema import VIDEO


@app.command()
@with_options(VIDEO)
def video(
    source: Annotated[Path, typer.Argument(help="A video (mp4, mov, mkv, webm), a GIF or a folder of frames")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images")],
    output: Annotated[Path, Opt("-o", "--output", help="A video (.mp4, .mov, .mkv, .webm: the input's sound is kept), "
                                                       "a .gif or a new or empty folder (no suffix) of PNG frames; "
                                                       f"{REPLACED}")],
    fps: Annotated[Optional[float], Opt(help="Frames per second: a folder's frames are all taken at this rate; a "
                                             "video is sampled at it [default: the video's own; 24 for a folder]")] = None,
    start: Annotated[float, Opt(help="Seconds into the input to start at")] = 0.0,
    duration: Annotated[Optional[float], Opt(help="Seconds to stylise [default: to the end]")] = None,
    frame_iterations: Annotated[int, Opt(
        help="Iterations per frame after the first (which gets the full schedule)")] = FRAME_ITERATIONS,
    temporal_weight: Annotated[float, Opt(help="Weight of keeping each frame close to the previous one warped "
                                               "by the motion (0: off)")] = TEMPORAL_WEIGHT,
    recipe: Recipe = "gatys",
    similarity: Similarity = None,
    report: Annotated[Optional[Path], Opt(help="Write a JSON report (seconds and loss per frame)")] = None,
    restart: Annotated[bool, Opt(help="Start over instead of continuing with the frames kept from a stopped run")] = False,
    workers: Annotated[int, Opt(help="Shots stylised at once, each in a process of its own (frames within a shot "
                                     "stay in order)")] = 1,
    cuts: Annotated[Optional[str], Opt(help="Where shots begin: auto (found in the input), none, or seconds such as "
                                            "12.5,30 [default: auto with --workers above 1]")] = None,
    cluster: Annotated[Optional[str], Opt(help="Stylise the shots on a Dask cluster: the scheduler's address, e.g. "
                                               "tcp://host:8786 (needs nst-ort[cluster])")] = None,
    dry_run: DryRun = False,
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Stylise a clip frame by frame; each frame starts from the previous one moved along the motion
    (optical flow) and is held to it, so the style does not flicker. Needs nst-ort[video]."""
    from nst_ort.jobs.status import Status
    from nst_ort.video.clip import estimate_clip, stylize_clip
    from nst_ort.video.frames import Window
    from nst_ort.video.run import VideoJob, VideoOptions

    models = models_folder(models_dir)
    settings = run_options(recipe, similarity, options or {}, models)
    job = VideoJob(source, tuple(styles), resolved(output), settings,
                   VideoOptions(Window(start, duration, fps), frame_iterations, temporal_weight), resolved(report))
    if dry_run:
        for line in estimate_clip(job, models):
            typer.echo(line)
        return
    with stop_signals("stopped: the frames finished are kept; run the same command again to continue") as stop:
        ending = stylize_clip(job, models, stop, workers=workers, cuts=cuts, cluster=cluster, restart=restart,
                              first_frame_progress=None if quiet else terminal(settings.final_iterations(), quiet)[0],
                              say=silent if quiet else say)
    if ending.status is Status.STOPPED:
        say(ending.message)
        raise typer.Exit(stop.exit_code)
    if not quiet:
        say(ending.message)
