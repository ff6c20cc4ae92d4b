"""Memory: the peak this process used, and what the machine has free for the next step."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MEMINFO = Path("/proc/meminfo")
STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _proc_kilobytes(path: Path, key: str) -> int | None:
    """Bytes of a `Key:  N kB` line of a /proc file, or None where there is no such file or line."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int | None:
    """Peak RSS since the process started or since reset_peak_rss(), or None where the
    platform does not say (Linux: VmHWM, which can be reset; elsewhere getrusage's maximum)."""
    peak = _proc_kilobytes(STATUS, "VmHWM")
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Start a new peak (Linux: VmHWM back to the current RSS); False where it cannot."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def available_bytes(meminfo: Path = MEMINFO) -> int | None:
    """Memory a new allocation can get without swapping: Linux's MemAvailable; elsewhere half
    the physical memory (a cautious guess); None where neither is known."""
    available = _proc_kilobytes(meminfo, "MemAvailable")
    if available is not None:
        return available
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(count: float) -> str:
    if count >= 2**30:
        return f"{count / 2**30:.1f} GB"
    return f"{count / 2**20:.0f} MB" if count >= 2**20 else f"{count / 2**10:.0f} KB"


def parse_size_bytes(text: str) -> int:
    """'2G', '800M', '1.5GB', '4096' (bytes) -> bytes; ValueError otherwise."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1:] if cleaned[-1:] in units else ""
    value = float(cleaned[: len(cleaned) - len(unit)]) * units.get(unit, 1)
    if not value > 0:
        raise ValueError(text)
    return int(value)
