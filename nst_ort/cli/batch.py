"""`nst sheet` and `nst batch`: many pictures from one command (nst_ort/batch/)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from nst_base.errors import NstError
from nst_ort.cli.common import (REPLACED, DryRun, ModelsDir, Opt, Quiet, Recipe, app, check_range, models_folder, resolved,
                                run_options, say, silent, stop_signals, with_options)
from nst_ort.options.schema import SHEET, STYLIZE, parse_numbers

CONFIRM_ITEMS = 100  # `nst batch`: more items than this need --yes


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
    from nst_ort.batch.sheet import make_sheet

    if columns < 0:
        raise NstError(f"--columns must be >= 0 (0: one row per style weight), not {columns}")
    weights = parse_numbers(style_weights) if style_weights else (None,)
    models = models_folder(models_dir)
    settings = run_options(recipe, None, {**(options or {}), "size": size}, models)
    make_sheet(content, styles, resolved(output), settings, recipe, weights, options or {}, columns, models, say)
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
    dry_run: DryRun = False,
    quiet: Quiet = False,
    models_dir: ModelsDir = None,
    options: Optional[dict] = None,
) -> None:
    """Many pictures unattended: every photo x painting of two folders, or the rows of a plan
    file; a list of values (--style-weight 1,2,4) makes a grid. A rerun skips finished items
    and resumes stopped ones; the exit code is the number of items that failed."""
    from nst_ort.batch.plan import from_folders, from_plan, guess_seconds, unique
    from nst_ort.batch.run import Batch
    from nst_ort.options.clock import format_seconds
    from nst_ort.jobs.status import Status

    if (plan is None) == (content is None or style is None):
        raise NstError("give a plan file, or --content DIR and --style DIR (not both)")
    check_range("--workers", workers, 1, 64)
    given = options or {}
    items = from_plan(plan, given, recipe) if plan is not None else from_folders(content, style, given, recipe)
    items, repeats = unique(items)
    if dry_run:
        for line in Batch(items, resolved(output_dir), models_folder(models_dir), workers, cluster).estimate():
            typer.echo(line)
        return
    if len(items) > CONFIRM_ITEMS and not yes:
        raise NstError(f"{len(items)} items, roughly {format_seconds(guess_seconds(items))} of computing on 2 cores: "
                       f"add --yes to start a batch of more than {CONFIRM_ITEMS}")
    out = resolved(output_dir)
    if out.exists() and not out.is_dir():
        raise NstError(f"-o {out} is a file: give a folder")
    batch_run = Batch(items, out, models_folder(models_dir), workers, cluster, shared_fs)
    with batch_run.claim():
        if repeats:
            say(f"warning: {repeats}")
        if not quiet:
            where = f"the cluster at {cluster}" if cluster else f"{workers} worker{'s' if workers > 1 else ''}"
            say(f"batch: {len(items)} items into {out}, {where}")
        with stop_signals(f"stopped: finished items are kept in {out}; run the same command again to continue"):
            results = batch_run.run(silent if quiet else say)
        batch_run.write_sheets()
    from nst_ort.platform.energy import describe_wh

    failed = [result for result in results if result.status is Status.FAILED]
    skipped = sum(result.status is Status.SKIPPED for result in results)
    energy = sum(result.wh or 0.0 for result in results)
    if not quiet or failed:
        say(f"{len(results) - len(failed)} of {len(results)} items done ({skipped} finished before), "
            f"{len(failed)} failed, {describe_wh(energy)} this time; index: {out / 'index.csv'}")
    if failed:
        raise typer.Exit(min(len(failed), 100))
