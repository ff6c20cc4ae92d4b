"""Benchmarks: each script runs nst-ort (and PyTorch) in its own processes and writes bench/results/."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nst_command() -> list[str]:
    """The `nst` command of the Python running the benchmark (its venv's script, else cli.py)."""
    script = Path(sys.executable).with_name("nst")
    return [str(script)] if script.exists() else [sys.executable, str(ROOT / "cli.py")]


def write_page_block(name: str, page: Path, table, report: Path) -> None:
    """`bench/X.py page`: the block `name` on `page`, rendered by `table` from the JSON `report`."""
    import json

    sys.path.insert(0, str(ROOT / "tools"))
    from readme import replace_block

    replace_block(name, table(json.loads(report.read_text())), page)
