"""The layers point one way: nst_base < nst_graphs < export < nst_ort, and inside nst_ort the
front ends above the job above the run logic above the engines (pyproject.toml's
[tool.importlinter] contracts, checked by import-linter's `lint-imports`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nst_base", "nst_graphs", "export", "nst_ort")
PACKAGES_CONTRACT = "packages: nst_ort > export > nst_graphs > nst_base"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` of this environment on the packages under `root` (its pyproject.toml)."""
    script = Path(sysconfig.get_path("scripts")) / ("lint-imports.exe" if os.name == "nt" else "lint-imports")
    assert script.is_file(), f"{script} is missing: pip install import-linter (the `test` extra)"
    # the packages under `root` first (lint-imports puts the working directory on sys.path too),
    # plain text at a width that keeps each contract's line whole
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    return subprocess.run([str(script), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and PACKAGES_CONTRACT in result.stdout


def test_an_import_back_up_breaks_the_packages_contract(tmp_path):
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("cli.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    assert lint_imports(tmp_path).returncode == 0  # the copy is the real thing
    networks = tmp_path / "nst_graphs" / "networks.py"
    networks.write_text(networks.read_text() + "\nimport nst_ort.transfer  # noqa: E402,F401\n")

    result = lint_imports(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{PACKAGES_CONTRACT} BROKEN" in output
    assert "nst_graphs.networks -> nst_ort.transfer" in output


def test_the_default_loss_layers_live_in_the_graphs_and_match_the_default_options():
    import nst_ort
    from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS

    options = nst_ort.StylizeOptions()
    assert DEFAULT_LOSS_LAYERS.content == tuple(name for name, _ in options.content_layers)
    assert DEFAULT_LOSS_LAYERS.style == tuple(name for name, _ in options.style_layers)
