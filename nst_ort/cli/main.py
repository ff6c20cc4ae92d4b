"""`nst`: the command line, one module per command group; each command maps its flags onto
the option schema and one job (nst_ort/jobs/). Installed as the `nst` console script and
`python -m nst_ort` (nst_ort/entry.py starts it); the checkout's root `cli.py` runs it too."""

import os
import signal
import sys
import traceback

from nst_base.errors import NstError
from nst_ort.cli import stylize, video, batch, serve, models  # noqa: F401, I001 - each registers its commands, in this order
from nst_ort.cli.common import app, say


def main() -> None:
    """Console entry point: one-line errors, exit codes, no tracebacks for user mistakes."""
    from nst_ort.jobs.signals import StopSignals

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
