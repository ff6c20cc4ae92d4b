"""Energy: what a run drew, measured where the machine tells, estimated where it does not.

On Linux the CPU package's RAPL counters (/sys/class/powercap/intel-rapl:N/energy_uj; AMD
Zen shows its own the same way) give the energy the package drew, all processes included;
they are readable by root only on most kernels since 2020. Elsewhere the estimate is the
process's CPU time (every thread's) times the power one busy core draws: a default by the
class of CPU (WATTS_PER_CORE, docs/energy.md says where the figures come from), or
$NST_WATTS_PER_CORE. $NST_PRICE_PER_KWH turns watt-hours into money.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RAPL_ROOT = Path("/sys/class/powercap")
WATTS_ENV = "NST_WATTS_PER_CORE"
PRICE_ENV = "NST_PRICE_PER_KWH"
# watts one busy core draws (package power under an all-core load divided by the cores),
# by class: a laptop's U-series part (15 W over 4 cores), a desktop part (65 W over 6-8),
# Apple silicon's performance cores, small ARM boards (a Raspberry Pi 4: 6 W over 4)
WATTS_PER_CORE = {"laptop": 4.0, "desktop": 9.0, "apple": 3.5, "arm": 1.5}
# a mobile part's model number: Intel 8250U, 10510Y, 8750H, 1165G7; AMD 5800U, 4800HS; or its name
MOBILE = re.compile(r"\b\d{4,5}(u|y|h|hs|hx|g\d)\b|mobile|\batom\b|celeron n|pentium n")


@dataclass(frozen=True)
class Energy:
    """What a run drew: watt-hours, and how they were found."""

    wh: float
    method: str  # "rapl" (measured) or "estimate" (CPU time x watts per core)
    cpu_seconds: float
    watts_per_core: float

    def as_dict(self) -> dict:
        data = {"wh": float(f"{self.wh:.6g}"), "method": self.method, "cpu_seconds": float(f"{self.cpu_seconds:.6g}"),
                "watts_per_core": self.watts_per_core}
        price = price_per_kwh()
        if price is not None:
            data["cost"] = float(f"{self.wh / 1000 * price:.6g}")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Energy:
        """An Energy as a report holds it."""
        return cls(float(data["wh"]), str(data["method"]), float(data["cpu_seconds"]), float(data["watts_per_core"]))

    def describe(self) -> str:
        """`2.1 Wh (estimated)`, with the cost when a price is set."""
        return describe_wh(self.wh, measured=self.method == "rapl")


def describe_wh(wh: float, measured: bool = False) -> str:
    """`2.1 Wh (estimated)`, `0.52 Wh (measured, 0.0002 at 0.3/kWh)` when a price is set."""
    price = price_per_kwh()
    cost = f", {wh / 1000 * price:.4f} at {price:g}/kWh" if price is not None else ""
    return f"{wh:.2g} Wh ({'measured' if measured else 'estimated'}{cost})"


def _positive_env(name: str) -> float | None:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


def price_per_kwh() -> float | None:
    return _positive_env(PRICE_ENV)


def cpu_class(model_name: str, machine: str) -> str:
    """laptop, desktop, apple or arm, from the CPU's model name and the machine's architecture."""
    name = model_name.lower()
    if "apple" in name:
        return "apple"
    if machine.lower() in ("aarch64", "arm64", "armv7l", "armv6l"):
        return "arm"
    return "laptop" if MOBILE.search(name) else "desktop"


def cpu_model_name() -> str:
    """The CPU's model name as the OS tells it (`Intel(R) Core(TM) i5-8250U ...`, `Apple M1`)."""
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip() or platform.processor()
        except (OSError, subprocess.SubprocessError):
            return platform.processor()
    if sys.platform == "win32":
        try:
            import winreg

            key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0")
            return str(winreg.QueryValueEx(key, "ProcessorNameString")[0]).strip()
        except OSError:
            return platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def watts_per_core() -> float:
    """$NST_WATTS_PER_CORE, else the default for this machine's class of CPU."""
    return _positive_env(WATTS_ENV) or WATTS_PER_CORE[cpu_class(cpu_model_name(), platform.machine())]


class Rapl:
    """The CPU packages' energy counters; None from `read` where they cannot be read."""

    def __init__(self, root: Path = RAPL_ROOT) -> None:
        self.zones = sorted(path for path in root.glob("*-rapl:*") if path.name.count(":") == 1) \
            if root.is_dir() else []

    def read(self) -> dict[str, tuple[int, int]] | None:
        """Each package's (microjoules, the value at which its counter wraps to 0)."""
        if not self.zones:
            return None
        try:
            return {zone.name: (int((zone / "energy_uj").read_text()), int((zone / "max_energy_range_uj").read_text()))
                    for zone in self.zones}
        except (OSError, ValueError):
            return None

    @staticmethod
    def joules(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> float:
        """The energy between two readings, a counter that wrapped once in between included."""
        total = 0
        for zone, (start, _) in before.items():
            end, wrap = after[zone]
            total += end - start if end >= start else end + wrap - start
        return total / 1e6


class EnergyMeter:
    """A run's energy from its start, plus what earlier sessions of it drew (`earlier`:
    CPU seconds and joules, None where they were not measured). `sample` often enough that a
    RAPL counter cannot wrap twice in between (the level loop samples every iteration)."""

    def __init__(self, earlier: tuple[float, float | None] = (0.0, 0.0), rapl: Rapl | None = None,
                 cpu_clock: Callable[[], float] = time.process_time) -> None:
        self.earlier_cpu, self.joules = earlier
        self.rapl = rapl if rapl is not None else Rapl()
        self.cpu_clock = cpu_clock
        self.cpu_start = cpu_clock()
        self.last = self.rapl.read()
        if self.last is None:
            self.joules = None

    def sample(self) -> None:
        if self.last is None or self.joules is None:
            return
        reading = self.rapl.read()
        if reading is None or set(reading) != set(self.last):
            self.joules = None
            return
        self.joules += Rapl.joules(self.last, reading)
        self.last = reading

    def so_far(self) -> tuple[float, float | None]:
        """(CPU seconds, joules or None) over every session so far."""
        self.sample()
        return self.earlier_cpu + self.cpu_clock() - self.cpu_start, self.joules

    def energy(self) -> Energy:
        cpu, joules = self.so_far()
        watts = watts_per_core()
        if joules is not None:
            return Energy(joules / 3600, "rapl", cpu, watts)
        return Energy(cpu * watts / 3600, "estimate", cpu, watts)


def estimate_wh(seconds: float, threads: int) -> float:
    """The energy of `seconds` of computing on `threads` busy cores, by the estimate."""
    return seconds * threads * watts_per_core() / 3600
