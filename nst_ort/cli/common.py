"""What every command of `nst` shares: the typer app, the flags made from the option schema,
the run's options from a recipe, progress on the terminal and the stop-signal handling.

Only the light layers are imported here (the option schema, typer): `nst --help` and an
option error answer before onnxruntime loads. Each command imports what it runs inside its
function.

No `from __future__ import annotations` in the command modules: typer reads the `Annotated`
option metadata from real annotation objects, and on Python 3.9 it cannot evaluate string
annotations.
"""

import inspect
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from nst_base.errors import NstError
from nst_ort.options.defaults import CHECKPOINT_EVERY
from nst_ort.options.schema import Spec, show_seconds, specs_for
from nst_ort.options.stylize import StylizeOptions

app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural style transfer on ONNX Runtime: no PyTorch or TensorFlow needed.")

Opt = typer.Option
ModelsDir = Annotated[Optional[Path], Opt(help="Where exported models live [default: models/ in the checkout, or "
                                               "$NST_MODELS_DIR]")]
Net = Annotated[str, Opt(help="Network: vgg16 or vgg19")]
Pool = Annotated[str, Opt(help="Pooling between blocks: max or avg")]
Threads = Annotated[int, Opt(help="CPU threads (0: every core)")]
Engine = Annotated[str, Opt(help="Gradient engine: auto, training or portable")]
Recipe = Annotated[str, Opt(help="gatys (default), keras-book or tf-course; the options override it")]
Similarity = Annotated[Optional[str], Opt(help="Style layer weights preset: content, balanced or style")]
CheckpointFolder = Annotated[Optional[Path], Opt(
    help="Run folder for checkpoints (continue with `nst resume DIR`): a new or empty folder, removed when the run "
         "finishes [default: OUTPUT.nst-run beside the output]")]
CheckpointEvery = Annotated[str, Opt(
    help="Time between checkpoints, e.g. 90s, 5m, 1h; 0 = only when stopped or the outputs cannot be written")]
Restart = Annotated[bool, Opt(help="Start over even if an unfinished run of this output is kept")]
Quiet = Annotated[bool, Opt("--quiet", "-q", help="No progress output")]
DryRun = Annotated[bool, Opt("--dry-run", help="Print the plan (levels, tiles, iterations, memory) with the time and "
                                               "energy it would take, and write nothing")]
REPLACED = "an existing file is replaced (atomically) when the run ends"
EVERY = show_seconds(CHECKPOINT_EVERY)


def say(message: str) -> None:
    typer.echo(message, err=True)


def silent(message: str) -> None:
    """--quiet: progress and plans are not shown (errors and warnings are)."""


def models_folder(option: Optional[Path]) -> Path:
    from nst_base.manifest import default_models_dir

    return option if option is not None else default_models_dir()


def resolved(path: Optional[Path]) -> Optional[Path]:
    from nst_ort.io.outputs import resolve_output

    return resolve_output(path) if path is not None else None


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


def run_options(recipe: str, similarity: Optional[str], given: dict, models: Path) -> StylizeOptions:
    """The run's options: the recipe, then the options given; validated, and the network that
    will run (a recipe's VGG19 falls back to VGG16 when none is exported)."""
    from nst_ort.options.recipes import choose_net, recipe_options

    options = recipe_options(recipe, similarity, **given)
    options.validate()
    return choose_net(options, models, say, vgg16_fallback="net" not in given)


def terminal(iterations: int, quiet: bool) -> list:
    """The progress reporters of a run on the terminal (none with --quiet)."""
    from nst_ort.jobs.progress import TerminalReporter

    return [] if quiet else [TerminalReporter(every=max(1, iterations // 30))]


def check_range(flag: str, value: float, low: float, high: float, unit: str = "") -> None:
    """One line for a command's own flag outside [low, high] (the schema checks its options)."""
    if not low <= value <= high:
        raise NstError(f"{flag} must be between {low:g} and {high:g}{unit}, not {value:g}")


@contextmanager
def stop_signals(stopped: str = "", interruptible: bool = True) -> Iterator[Any]:
    """Ctrl-C, SIGTERM and SIGHUP during the work inside (jobs/signals.py): a stop that
    interrupts it ends the command with `stopped` said and the signal's exit code; the
    StopSignals is yielded for the work to read (`received`) or to make uninterruptible."""
    from nst_ort.jobs.signals import STOP_SIGNALS, StopSignals

    try:
        with StopSignals(notify=say) as stop:
            stop.interruptible = interruptible
            try:
                yield stop
            except KeyboardInterrupt:
                if stopped:
                    say(stopped)
                raise typer.Exit(stop.exit_code) from None
    finally:
        if stop.received is not None:  # the stop is handled and said: a repeat must not say "nothing was written"
            for signum in STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)
