"""`nst info`'s platform facts: why an engine is missing, which vector units the CPU offers."""

from __future__ import annotations

import os
import pytest

from nst_ort.platform.system import Platform, engine_availability, training_engine_absence, vector_units
from tests.helpers import nst


@pytest.mark.parametrize("where, python, reason", [
    (Platform("macOS", "10.15.7", "x86_64", "3.9.18"), (3, 9), "not available on macOS 10.15.7"),
    (Platform("macOS", "14.2", "arm64", "3.13.0"), (3, 13), "not available for Python 3.13"),
    (Platform("Linux", "6.1.0", "aarch64", "3.11.7", "2.36"), (3, 11), "not available on Linux aarch64"),
    (Platform("Linux", "6.1.0", "x86_64", "3.11.7", "2.36"), (3, 11), "not installed (pip install"),
])
def test_training_engine_absence_names_the_reason(where, python, reason):
    assert training_engine_absence(where, python).startswith(reason)


@pytest.mark.parametrize("features, machine, tier", [
    ({"SSE41", "AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL", "AVX512VNNI"}, "x86_64",
     "AVX-512 (also AVX512VNNI)"),
    ({"SSE41", "AVX", "AVX2", "FMA3", "AVX512F"}, "x86_64", "AVX2 + FMA"),  # AVX-512 without BW/DQ/VL
    ({"SSE41", "AVX"}, "AMD64", "AVX"),
    ({"NEON", "ASIMD", "ASIMDDP"}, "aarch64", "NEON + dot product"),
    ({"NEON", "ASIMD"}, "arm64", "NEON"),
    (set(), "x86_64", "none detected"),
])
def test_vector_units(features, machine, tier):
    assert vector_units(features, machine) == tier


def test_engines_reported_and_portable_always_available():
    status = engine_availability()
    assert status["portable"].startswith("available")
    assert set(status) == {"portable", "training"}


def test_info_command_shows_platform_engines_and_cpu(tiny_models_dir):
    result = nst("info", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    for label in ("platform", "portable engine", "training engine", "cpu vector units", "vgg16"):
        assert label in result.stdout, result.stdout


def test_cores_follow_the_affinity_and_nst_cores(monkeypatch):
    from nst_base.cores import CORES_ENV, usable_cores
    from nst_ort.platform.sessions import resolved_threads

    monkeypatch.delenv(CORES_ENV, raising=False)
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_cores() == allowed and resolved_threads(0) == allowed
    assert resolved_threads(allowed + 5) == allowed  # capped to the cores
    monkeypatch.setenv(CORES_ENV, "16")
    assert usable_cores() == 16 and resolved_threads(16) == 16 and resolved_threads(0) == 16
    for junk in ("0", "-3", "many", ""):
        monkeypatch.setenv(CORES_ENV, junk)
        assert usable_cores() == allowed
