"""Stop signals: Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP) all end a run the same way.

While the run is `interruptible`, the first signal raises KeyboardInterrupt in the main
thread: the optimiser returns its best image so far and the caller writes it (atomically).
Afterwards (while results are written) the first signal is only recorded. A second signal
exits at once: every file is written by rename, so nothing half-written is left behind.
"""

from __future__ import annotations

import os
import signal
from types import FrameType, TracebackType

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class StopSignals:
    """Context manager: while active, stop signals interrupt the run; `received` names the first one."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.interruptible = True
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            os._exit(128 + signum)  # a second signal: leave now
        self.received = signum
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
