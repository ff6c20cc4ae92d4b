"""Runs that keep to the artist's hours and leave the laptop usable: `--start-at` waits,
`--until` ends the run as a stop signal does (best image and checkpoint kept: `nst resume`
goes on), and `--gentle` yields the processor and pauses, its state saved, while the
laptop runs on battery."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nst_ort.core.optimize import Progress
from nst_ort.options.clock import show_clock

BATTERY_CHECK_SECONDS = 10.0  # how often the battery is looked at while running
BATTERY_POLL_SECONDS = 15.0  # and while paused on it


class DeadlineReached(KeyboardInterrupt):
    """The run's --until time came: it ends as on Ctrl-C, keeping its best image and checkpoint."""


@dataclass
class Deadline:
    """A reporter that ends the run at `at` (seconds since the epoch), checked after every
    iteration and every tile of a tiled evaluation (seconds apart even at print size)."""

    at: float
    clock: Callable[[], float] = time.time
    reached: bool = False

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        self._check()

    def tile(self, step: int, done: int, tiles: int) -> None:
        self._check()

    def _check(self) -> None:
        if self.clock() >= self.at:
            self.reached = True
            raise DeadlineReached


def wait_for_start(at: float | None, notify: Callable[[str], None], clock: Callable[[], float] = time.time,
                   sleep: Callable[[float], None] = time.sleep) -> None:
    """Sleep until `at` (a stop signal ends the wait: nothing has been done)."""
    if at is None or clock() >= at:
        return
    notify(f"waiting until {show_clock(at)} to start (--start-at)")
    while (left := at - clock()) > 0:
        sleep(min(60.0, left))


def on_battery() -> bool:
    """Whether the machine runs on its battery now (False where psutil cannot tell)."""
    import psutil

    try:
        battery = psutil.sensors_battery()
    except (AttributeError, NotImplementedError, OSError, RuntimeError):
        return False
    return battery is not None and battery.power_plugged is False


@dataclass
class BatteryPause:
    """A reporter for --gentle runs: on battery, save the run's state (`keep`) and wait for
    the charger, saying so; then carry on where it was."""

    keep: Callable[[], object]
    notify: Callable[[str], None]
    sensor: Callable[[], bool] = on_battery
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    last_check: float = field(default=-float("inf"))

    def __call__(self, progress: Progress, pixels: np.ndarray) -> None:
        now = self.clock()
        if now - self.last_check < BATTERY_CHECK_SECONDS:
            return
        self.last_check = now
        if not self.sensor():
            return
        self.keep()
        self.notify(f"paused at level {progress.level}, iteration {progress.iteration}: the laptop runs on battery "
                    f"(--gentle); the run's state is saved and it carries on once plugged in")
        while self.sensor():
            self.sleep(BATTERY_POLL_SECONDS)
        self.notify("plugged in again: carrying on")


def yield_priority() -> None:
    """The lowest sensible priority for this process: nice 10 or more on Unix, below normal
    on Windows (--gentle)."""
    import os

    if hasattr(os, "nice"):
        current = os.nice(0)
        if current < 10:
            os.nice(10 - current)
        return
    import psutil

    psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
