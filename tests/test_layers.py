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
    networks.write_text(networks.read_text() + "\nimport nst_ort.core.levels  # noqa: E402,F401\n")

    result = lint_imports(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{PACKAGES_CONTRACT} BROKEN" in output
    assert "nst_graphs.networks -> nst_ort.core.levels" in output


def test_the_default_loss_layers_live_in_the_graphs_and_match_the_default_options():
    import nst_ort
    from nst_graphs.loss_graph import DEFAULT_LOSS_LAYERS

    options = nst_ort.StylizeOptions()
    assert DEFAULT_LOSS_LAYERS.content == tuple(name for name, _ in options.content_layers)
    assert DEFAULT_LOSS_LAYERS.style == tuple(name for name, _ in options.style_layers)


def test_no_import_circles_in_the_runtime():
    """No two modules of nst_ort import each other, directly or around a circle (lazy imports
    inside functions count too)."""
    import grimp

    graph = grimp.build_graph("nst_ort")
    modules = sorted(graph.modules)
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    assert circles == []


def test_the_tree_shows_the_layers():
    """The package's root holds the entry points and the API only, the rest sits in its layer's
    folder, and no module grows past 400 lines."""
    package = ROOT / "nst_ort"
    root_modules = sorted(path.name for path in package.glob("*.py"))
    assert len(root_modules) <= 10, root_modules
    for folder in ("options", "core", "io", "jobs", "platform", "cli", "batch", "studio", "video"):
        assert (package / folder / "__init__.py").is_file(), folder
    long = {str(path.relative_to(ROOT)): lines for path in package.rglob("*.py")
            if (lines := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_help_and_option_errors_load_no_onnxruntime():
    import sys

    for arguments in (["--help"], ["stylize", "--help"], ["stylize", "a.png", "b.png", "-o", "c.png", "--size", "0"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "nst_ort", *arguments], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")]
        assert imported and not [name for name in imported if name.split(".")[0] in ("onnxruntime", "onnx")], arguments
    assert "--size must be" in result.stderr and result.returncode == 1
