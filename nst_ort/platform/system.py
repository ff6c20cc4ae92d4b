"""What this installation runs on: the platform, the engines it can use and why, the CPU's vector units."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass

from nst_ort.platform import ort_training

# onnxruntime's CPU kernels (MLAS) pick their code path from these CPUID bits, best first
_X86_TIERS = (
    ("AVX-512", ("AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL")),
    ("AVX2 + FMA", ("AVX2", "FMA3")),
    ("AVX", ("AVX",)),
    ("SSE4.1", ("SSE41",)),
)
_ARM_TIERS = (("NEON + dot product", ("ASIMD", "ASIMDDP")), ("NEON", ("ASIMD",)), ("NEON", ("NEON",)))
_EXTRAS = ("AVX512VNNI", "AVX512BF16", "AVX512_SPR", "AMX_BF16", "ASIMDHP", "ASIMDFHM", "SVE", "SVE2")


@dataclass(frozen=True)
class Platform:
    system: str  # Linux, macOS, Windows
    release: str  # kernel release, macOS version, Windows version
    machine: str  # x86_64, arm64, aarch64, AMD64 ...
    python: str
    libc: str = ""  # glibc version on Linux

    def describe(self) -> str:
        libc = f", glibc {self.libc}" if self.libc else ""
        return f"{self.system} {self.release} {self.machine}{libc}, CPython {self.python}"


def current_platform() -> Platform:
    python = platform.python_version()
    if sys.platform == "darwin":
        return Platform("macOS", platform.mac_ver()[0] or platform.release(), platform.machine(), python)
    libc = platform.libc_ver()
    return Platform(platform.system(), platform.release(), platform.machine(), python,
                    libc[1] if libc[0] == "glibc" else "")


def training_engine_absence(where: Platform, python_version: tuple[int, int]) -> str:
    """Why onnxruntime-training-cpu (the training engine) is not installed on `where`."""
    if where.system == "macOS":
        major = int(where.release.split(".")[0] or 0) if where.release else 0
        if 0 < major < 11:
            return f"not available on macOS {where.release} (its wheels need macOS 11 or newer)"
    if python_version >= (3, 13):
        return f"not available for Python {python_version[0]}.{python_version[1]} (wheels for 3.8-3.12 only)"
    if where.system == "Linux" and where.machine not in ("x86_64", "AMD64"):
        return f"not available on Linux {where.machine} (wheels for x86_64 only)"
    return f"not installed ({ort_training.INSTALL_HINT})"


def engine_availability() -> dict[str, str]:
    """Each engine -> 'available' or why not."""
    if ort_training.available():
        training = "available (onnxruntime-training-cpu)"
    else:
        training = training_engine_absence(current_platform(), sys.version_info[:2])
    return {"portable": "available (any onnxruntime; the default)", "training": training}


def cpu_features() -> set[str]:
    """The CPU's vector extensions, from numpy's own runtime CPUID probe (empty if unknown)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return set()
    return {name for name, present in features.items() if present}


def vector_units(features: set[str], machine: str) -> str:
    """The kernel tier onnxruntime selects from these CPU features, plus notable extras."""
    tiers = _ARM_TIERS if machine.lower() in ("arm64", "aarch64", "armv8l") else _X86_TIERS
    tier = next((name for name, needs in tiers if set(needs) <= features), "none detected")
    extras = sorted(features.intersection(_EXTRAS))
    return tier + (f" (also {', '.join(extras)})" if extras else "")
