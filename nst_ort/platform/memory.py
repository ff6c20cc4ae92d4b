"""Memory: the peak this process used, and what the machine has free for the next step
(psutil on every platform; Linux's VmHWM where a peak must be reset between levels)."""

from __future__ import annotations

import sys
from pathlib import Path

STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _high_water_mark(status: Path = STATUS) -> int | None:
    """Linux's VmHWM (the peak RSS, which clear_refs resets) in bytes; None elsewhere."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int | None:
    """Peak RSS since the process started or since reset_peak_rss(), or None where the
    platform does not say (Linux: VmHWM, which can be reset; elsewhere getrusage's maximum)."""
    peak = _high_water_mark()
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:  # Windows: the peak working set
        import psutil

        return getattr(psutil.Process().memory_info(), "peak_wset", None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Start a new peak (Linux: VmHWM back to the current RSS); False where it cannot."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def available_bytes() -> int | None:
    """Memory a new allocation can get without swapping, as the OS counts it (psutil: Linux's
    MemAvailable, macOS's free + inactive + purgeable, Windows's available); None where the
    OS does not say."""
    import psutil

    try:
        return int(psutil.virtual_memory().available)
    except (OSError, RuntimeError, AttributeError):
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
