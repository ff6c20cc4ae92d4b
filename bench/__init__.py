"""Benchmarks: each script runs nst-ort (and PyTorch) in its own processes and writes bench/results/."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nst_command() -> list[str]:
    """The `nst` command of the Python running the benchmark (its venv's script, else cli.py)."""
    script = Path(sys.executable).with_name("nst")
    return [str(script)] if script.exists() else [sys.executable, str(ROOT / "cli.py")]
