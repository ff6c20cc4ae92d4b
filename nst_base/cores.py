"""How many cores this process may use: the ones it is allowed to run on (psutil, every platform),
or what $NST_CORES says."""

from __future__ import annotations

import os

CORES_ENV = "NST_CORES"  # overrides the detected count: containers whose CPU quota the OS does not show, benchmarks


def usable_cores() -> int:
    """$NST_CORES when set to a positive integer, else the cores this process may run on (its CPU
    affinity where the OS has one: taskset, cpusets), else every core."""
    told = os.environ.get(CORES_ENV, "").strip()
    if told.isdigit() and int(told) > 0:
        return int(told)
    import psutil

    try:
        return max(1, len(psutil.Process().cpu_affinity()))  # Linux, Windows
    except (AttributeError, NotImplementedError, OSError):  # macOS: no affinity
        return psutil.cpu_count() or os.cpu_count() or 1
