"""`nst stylize`, `nst resume` and `nst upscale`: one picture, through the job life cycle
(jobs/lifecycle.py)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from nst_ort.cli.common import (EVERY, REPLACED, CheckpointEvery, CheckpointFolder, DryRun, ModelsDir, Opt, Quiet,
                                Recipe, Restart, Similarity, app, models_folder, resolved, run_options, say, silent,
                                stop_signals, terminal, with_options)
from nst_ort.options.defaults import GIF_EVERY, GIF_FRAME_MS
from nst_ort.options.schema import RESUME, STYLIZE, UPSCALE, parse_seconds

LATER = 75  # stopped at --until, to be continued (EX_TEMPFAIL: "try again later")


@app.command()
@with_options(STYLIZE)
def stylize(
    content: Annotated[Path, typer.Argument(help="Content photo")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images")],
    output: Annotated[Path, Opt("-o", "--output", help=f"Output image (.png, .jpg, .webp ...); {REPLACED}")],
    recipe: Recipe = "gatys",
    similarity: Similarity = None,
    mask: Annotated[Optional[list[Path]], Opt(
        help="Where each style goes: a grayscale image per style, white = here (--mask a.png --mask b.png)")] = None,
    save_every: Annotated[int, Opt(help="Write the current image to OUTPUT every N iterations (0: off)")] = 0,
    gif: Annotated[Optional[Path], Opt(help="Write an animated GIF of the progress")] = None,
    gif_every: Annotated[int, Opt(help="Iterations between GIF frames")] = GIF_EVERY,
    gif_frame_ms: Annotated[int, Opt(help="Milliseconds per GIF frame")] = GIF_FRAME_MS,
    report: Annotated[Optional[Path], Opt(help="Write a JSON run report")] = None,
    checkpoint: CheckpointFolder = None,
    checkpoint_every: CheckpointEvery = EVERY,
    restart: Restart = False,
    dry_run: DryRun = False,
    record_paths: Annotated[bool, Opt(help="The result's settings name the inputs by full path (for `nst upscale` "
                                           "from elsewhere); by default only by file name")] = False,
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Stylise CONTENT with the style of STYLES (L-BFGS over the pixels)."""
    models = models_folder(models_dir)
    settings = run_options(recipe, similarity, options or {}, models)  # an option error answers before numpy loads
    from nst_ort.jobs.job import Job, Outputs

    every = parse_seconds(checkpoint_every, "--checkpoint-every")
    job = Job(content, tuple(styles), settings, tuple(mask or ()),
              Outputs(resolved(output), resolved(report), resolved(gif), gif_every, gif_frame_ms, save_every,
                      record_paths), explicit_size="size" in (options or {}))
    _start(job, checkpoint, every, restart, quiet, models, dry_run,
           f"stylizing {content.name} with {', '.join(s.name for s in styles)}: recipe {recipe}, "
           f"{settings.final_iterations()} iterations at {settings.size} px, {settings.optimizer}, "
           f"engine {settings.engine}")


def _start(job, checkpoint: Optional[Path], every: float, restart: bool, quiet: bool, models: Path, dry_run: bool,
           headline: str) -> None:
    """A new job started (jobs/lifecycle.py: claimed, planned), its inputs decoded, then run;
    or with --dry-run, its plan, time and energy said and nothing written."""
    from nst_ort.jobs.job import default_run_folder
    from nst_ort.jobs.lifecycle import dry_run as estimate, start
    from nst_ort.jobs.run_folder import RunFolder

    if dry_run:
        typer.echo(headline)
        for line in estimate(job, models).lines():
            typer.echo(line)
        return
    folder = RunFolder(resolved(checkpoint) if checkpoint is not None else default_run_folder(job.outputs.image))
    runner = start(job, models, folder, restart=restart, checkpoint_every=every,
                   reporters=terminal(job.options.final_iterations(), quiet), notify=silent if quiet else say, warn=say)
    runner.load()
    if not quiet:
        say(headline)
    _complete(runner, quiet)


def _complete(runner, quiet: bool) -> None:
    """Run a started or resumed job to its end; a stop signal keeps the best image so far and a
    checkpoint. What became of it is said while the stop signals are still held: a second
    Ctrl-C meanwhile waits (it is told to) instead of cutting the last line short."""
    from nst_ort.jobs.lifecycle import complete

    with stop_signals("stopped before the first iteration: nothing was written") as stop:
        result = complete(runner, stop)  # Ctrl-C, SIGTERM and SIGHUP keep the best image so far
        _say_how_it_ended(runner, result, stop, quiet)


def _say_how_it_ended(runner, result, stop, quiet: bool) -> None:
    from nst_ort.jobs.job import resume_command

    output = runner.job.outputs.image
    if result.outcome.interrupted or stop.received is not None:
        kept = runner.folder is not None and runner.folder.exists()
        command = resume_command(runner.folder.path, runner.job.outputs) if kept else ""
        if runner.stopped_by_deadline and stop.received is None:
            from nst_ort.options.clock import show_clock

            say(f"stopped at {show_clock(runner.deadline.at)} as asked (--until): saved the best image so far to "
                f"{output}" + (f"; continue with `{command}` (--until for the next stop)" if command else ""))
            raise typer.Exit(LATER)
        resume = f"; continue with `{command}`" if command else ""
        say(f"interrupted at iteration {len(result.outcome.history)}: saved the best image so far to {output}{resume}")
        raise typer.Exit(stop.exit_code)
    if not quiet:
        from nst_ort.platform.energy import Energy

        first = result.outcome.history[0].loss if result.outcome.history else float("nan")
        say(f"wrote {output} ({result.image.width}x{result.image.height}) in {result.report['total_seconds']:.1f} s, "
            f"{Energy.from_dict(result.report['energy']).describe()}; loss {first:.4g} -> {result.outcome.loss:.4g}")


@app.command()
@with_options(RESUME)
def resume(
    run_dir: Annotated[Path, typer.Argument(help="The run folder an interrupted `nst stylize` left (OUTPUT.nst-run)")],
    output: Annotated[Optional[Path], Opt("-o", "--output", help="Write the image here instead [default: the run's "
                                                                  "own, beside its run folder]")] = None,
    gif: Annotated[Optional[Path], Opt(help="Write the GIF here instead [default: the run's own]")] = None,
    report: Annotated[Optional[Path], Opt(help="Write the report here instead [default: the run's own]")] = None,
    checkpoint_every: CheckpointEvery = EVERY,
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Continue an interrupted run where its last checkpoint left it (same settings, same outputs;
    how it uses this machine, such as --threads or --max-memory, may change). A run folder
    writes only beside itself; -o, --gif and --report name any other place."""
    from nst_ort.jobs.runner import resume_runner

    every = parse_seconds(checkpoint_every, "--checkpoint-every")
    runner = resume_runner(run_dir, models_folder(models_dir), every, notify=silent if quiet else say,
                           machine=options or {}, outputs={"image": output, "gif": gif, "report": report})
    runner.reporters, runner.warn = terminal(runner.job.options.final_iterations(), quiet), say
    runner.load()
    if not quiet:
        at = runner.resume_from.position if runner.resume_from is not None else (1, 0)
        say(f"resuming {runner.job.outputs.image or run_dir} at level {at[0]}, iteration {at[1]}")
    _complete(runner, quiet)


@app.command()
@with_options(UPSCALE)
def upscale(
    chosen: Annotated[Path, typer.Argument(help="A result of nst stylize (PNG or JPEG: it carries its settings)")],
    output: Annotated[Path, Opt("-o", "--output", help=f"Output image; {REPLACED}")],
    size: Annotated[int, Opt(help="Long side of the print in pixels")],
    content: Annotated[Optional[Path], Opt(help="Content photo [default: the one the result was made from]")] = None,
    style: Annotated[Optional[list[Path]], Opt(help="Style image(s) [default: the ones the result was made from]")] = None,
    checkpoint: CheckpointFolder = None,
    checkpoint_every: CheckpointEvery = EVERY,
    restart: Restart = False,
    dry_run: DryRun = False,
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Take a chosen result up to print size, starting from it, with the settings it was made with."""
    from nst_ort.jobs.job import Outputs, upscale_job

    every = parse_seconds(checkpoint_every, "--checkpoint-every")
    job = upscale_job(chosen, size, Outputs(resolved(output)), content, tuple(style or ()), **(options or {}))
    job.options.validate()
    _start(job, checkpoint, every, restart, quiet, models_folder(models_dir), dry_run,
           f"upscaling {chosen.name} to {size} px from {job.content.name} with "
           f"{', '.join(s.name for s in job.styles)}: {job.options.scales} levels")
