"""The `nst` command's first instructions: stop signals are answered before anything loads.

Loading the command line takes a second (typer, numpy, onnxruntime); a Ctrl-C, SIGTERM or
SIGHUP in that second ends the command with one line and the signal's exit code, not a
traceback or a silent death. Nothing has been written yet, so nothing needs keeping.
"""

import os
import signal

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def _stopped_while_starting(signum: int, frame: object) -> None:
    os.write(2, f"stopped by {signal.Signals(signum).name}: nothing was written\n".encode())
    os._exit(128 + signum)


def main() -> None:
    """Console entry point: signals handled first, then the command line loaded and run."""
    for name in STOP_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stopped_while_starting)
    from nst_ort.cli import main as run_command_line

    try:
        run_command_line()
    finally:  # the command has ended and said so: a late repeat of a stop changes nothing (not even the exit code)
        for name in STOP_SIGNALS:
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
