"""Stop signals: Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP) all end a run the same way.

While the run is `interruptible`, the first signal raises KeyboardInterrupt in the main
thread: the optimiser returns its best image so far and the caller writes it and the
checkpoint (atomically). Afterwards (while results are written) the first signal is only
recorded. A second signal does not cut that short (a double Ctrl-C would lose the run): it
is told to wait; only a third exits at once. Every file is written by rename, so even then
nothing half-written replaces anything.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType, TracebackType

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class StopSignals:
    """Context manager: while active, stop signals interrupt the run; `received` names the first one."""

    def __init__(self, notify: Callable[[str], None] = lambda message: None, exits: bool = False) -> None:
        self.received: int | None = None
        self.interruptible = True
        self.exits = exits  # the first signal raises SystemExit(128 + signal): nothing to keep, leave
        self.count = 0
        self.notify = notify
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count >= 3:
            os._exit(128 + signum)  # asked three times: leave now
        if self.count == 2:
            self.notify("stopping: the best image and the checkpoint are being written (stop again to quit "
                        "without them)")
            return
        self.received = signum
        if self.exits:
            raise SystemExit(128 + signum)  # past the CLI framework, which would turn KeyboardInterrupt into its own code
        if self.interruptible:
            raise KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
        return 128 + (self.received if self.received is not None else signal.SIGINT)

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
