"""Which platforms can install nst-ort, and with which engines: the platform table in docs/platforms.md, checked.

    .venv/bin/python tools/platforms.py             # resolve every row's dependencies now (PyPI)
    .venv/bin/python tools/platforms.py --write     # rewrite the table in docs/platforms.md from the rows below

Each row names a target (OS, CPU, Pythons) and what it should get. The check evaluates
pyproject.toml's environment markers for that target itself (pip evaluates markers for the
machine it runs on, even with --platform), then asks pip to resolve the selected requirements
for the target's wheel tags, binary wheels only (`pip install --dry-run --report`), and
compares what pip would install with the row. Rows marked "cannot install" must fail to
resolve. A pin change that breaks a row makes the check fail.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from readme import DOCS, replace_block

ROOT = Path(__file__).resolve().parent.parent
PAGE = DOCS / "platforms.md"  # the page the table lives on (tests read it there)
TRAINING, PLAIN = "onnxruntime-training-cpu", "onnxruntime"

LINUX = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_release": "6.1.0-18-amd64"}
WINDOWS = {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_release": "10"}
MAC = {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"}
DARWIN_RELEASE = {"10.15": "19.6.0", "11": "20.6.0", "12": "21.6.0", "13": "22.6.0", "14": "23.6.0"}


@dataclass(frozen=True)
class Target:
    """One row of the table: where, which Pythons, and what it should install."""

    os: str
    cpu: str
    pythons: tuple[str, ...]  # checked versions (the row claims the range between them)
    tags: tuple[str, ...]  # pip --platform wheel tags (for macOS pip adds the older versions itself)
    environment: dict[str, str]  # marker variables besides the Python version
    onnxruntime: str  # expected distribution and versions, e.g. "onnxruntime>=1.17"; "" = cannot install
    numpy: str = ""  # expected numpy versions, e.g. "<2"
    tested: str = "dependency resolution"  # or where CI runs it
    examples: str = ""
    advice: str = ""  # for rows that cannot install

    @property
    def engines(self) -> str:
        if not self.onnxruntime:
            return "cannot install"
        return "training + portable" if self.onnxruntime.startswith(TRAINING) else "portable"

    def marker_environment(self, python: str) -> dict[str, str]:
        return {"python_version": python, "python_full_version": f"{python}.0", "implementation_name": "cpython",
                "platform_python_implementation": "CPython", "implementation_version": f"{python}.0",
                "platform_version": "", **self.environment}


def manylinux(glibc_minor: int, arch: str) -> tuple[str, ...]:
    """Every manylinux tag a Linux with glibc 2.`glibc_minor` accepts (pip does not expand them itself)."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for minor in range(glibc_minor, 4, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy:
            tags.append(f"{legacy[minor]}_{arch}")
    return tuple(tags)


def _mac(version: str, machine: str) -> dict[str, str]:
    return {**MAC, "platform_release": DARWIN_RELEASE[version], "platform_machine": machine}


TARGETS = (
    Target("Linux, glibc >= 2.28", "x86_64", ("3.9", "3.12"), manylinux(28, "x86_64"),
           {**LINUX, "platform_machine": "x86_64"}, f"{TRAINING}==1.19.2",
           tested="CI here: `.venv` (3.11) and resolution", examples="Debian 10+, Ubuntu 20.04+, Fedora"),
    Target("Linux, glibc >= 2.28", "x86_64", ("3.13", "3.14"), manylinux(28, "x86_64"),
           {**LINUX, "platform_machine": "x86_64"}, f"{PLAIN}>=1.17",
           tested="CI here: `.venv-portable` (newest onnxruntime, 3.11) and resolution"),
    Target("Linux, glibc >= 2.28", "aarch64", ("3.9", "3.14"), manylinux(28, "aarch64"),
           {**LINUX, "platform_machine": "aarch64"}, f"{PLAIN}>=1.17",
           examples="Raspberry Pi 3/4/5 with 64-bit Raspberry Pi OS, Jetson, AWS Graviton"),
    Target("Linux, glibc 2.27", "aarch64", ("3.9", "3.11"), manylinux(27, "aarch64"),
           {**LINUX, "platform_machine": "aarch64"}, f"{PLAIN}>=1.17,<1.29", examples="Ubuntu 18.04, e.g. Jetson Nano"),
    Target("Windows 10/11", "x86_64", ("3.9", "3.12"), ("win_amd64",),
           {**WINDOWS, "platform_machine": "AMD64"}, f"{TRAINING}==1.19.2"),
    Target("Windows 10/11", "x86_64", ("3.13", "3.14"), ("win_amd64",),
           {**WINDOWS, "platform_machine": "AMD64"}, f"{PLAIN}>=1.17"),
    Target("macOS 10.15 Catalina", "Intel", ("3.9", "3.11"), ("macosx_10_15_x86_64",), _mac("10.15", "x86_64"),
           f"{PLAIN}>=1.16,<1.17", numpy="<2", examples="2012-2015 Macs",
           tested="CI here: `.venv-oldest` runs this stack (3.9, onnxruntime 1.16.3, numpy 1.24) on Linux; resolution"),
    Target("macOS 11-12", "Intel", ("3.9", "3.12"), ("macosx_11_0_x86_64",), _mac("11", "x86_64"),
           f"{TRAINING}==1.19.2"),
    Target("macOS 13+", "Intel", ("3.13",), ("macosx_13_0_x86_64",), _mac("13", "x86_64"), f"{PLAIN}>=1.17"),
    Target("macOS 12+", "Apple silicon", ("3.9", "3.12"), ("macosx_12_0_arm64",), _mac("12", "arm64"),
           f"{TRAINING}==1.19.2"),
    Target("macOS 14+", "Apple silicon", ("3.13", "3.14"), ("macosx_14_0_arm64",), _mac("14", "arm64"),
           f"{PLAIN}>=1.17"),
    Target("macOS 11", "Apple silicon", ("3.11",), ("macosx_11_0_arm64",), _mac("11", "arm64"), "",
           advice="scipy's Apple-silicon wheels need macOS 12: update macOS (free on every M1 Mac)"),
    Target("Linux 32-bit", "armv7l", ("3.11",), (*manylinux(36, "armv7l"), "linux_armv7l"),
           {**LINUX, "platform_machine": "armv7l"}, "", examples="32-bit Raspberry Pi OS",
           advice="no onnxruntime, onnx or numpy wheels: install the 64-bit Raspberry Pi OS (Pi 3 and newer)"),
    Target("Linux, glibc 2.17", "x86_64", ("3.9",), manylinux(17, "x86_64"), {**LINUX, "platform_machine": "x86_64"},
           "", examples="CentOS 7, Amazon Linux 2",
           advice="onnxruntime needs glibc 2.27+: a newer distribution, or a container of one"),
    Target("macOS 10.15 Catalina", "Intel", ("3.12",), ("macosx_10_15_x86_64",), _mac("10.15", "x86_64"), "",
           advice="onnxruntime's last macOS 10.15 wheels (1.16.3) stop at Python 3.11: use Python 3.9-3.11"),
    Target("macOS 11-12", "Intel", ("3.13",), ("macosx_12_0_x86_64",), _mac("12", "x86_64"), "",
           advice="no onnxruntime for Python 3.13 before macOS 13 on Intel: use Python 3.9-3.12"),
    Target("macOS 13+", "Intel", ("3.14",), ("macosx_14_0_x86_64",), _mac("14", "x86_64"), "",
           advice="no onnxruntime for Python 3.14 on Intel Macs: use Python 3.13 or older"),
)


@dataclass
class Outcome:
    target: Target
    python: str
    installed: dict[str, str] = field(default_factory=dict)  # name -> version; empty when resolution failed
    error: str = ""
    problems: list[str] = field(default_factory=list)


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    import tomllib

    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def requirements_for(target: Target, python: str, requirements: list[str]) -> list[str]:
    """The requirements whose markers hold on `target` with `python`, markers removed."""
    environment = target.marker_environment(python)
    selected = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is None or Marker(str(requirement.marker)).evaluate(environment):
            requirement.marker = None
            selected.append(str(requirement))
    return selected


def resolve(target: Target, python: str, requirements: list[str]) -> tuple[dict[str, str], str]:
    """What pip would install for `target` (name -> version), or ({}, pip's last error line)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        platforms = [arg for tag in target.tags for arg in ("--platform", tag)]
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                   "--only-binary=:all:", *platforms, "--python-version", python, "--implementation", "cp",
                   "--report", str(report), *requirements]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if run.returncode != 0 or not report.exists():
            lines = [line for line in run.stderr.splitlines() if line.startswith("ERROR")] or ["pip failed"]
            return {}, lines[0]
        data = json.loads(report.read_text())
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in data["install"]}, ""


def problems_of(target: Target, installed: dict[str, str], error: str) -> list[str]:
    """How a resolution differs from what the row claims (empty: the row holds)."""
    if not target.onnxruntime:
        return [] if error else [f"expected no install, but pip resolved {sorted(installed)}"]
    if error:
        return [f"does not resolve: {error}"]
    expected = Requirement(target.onnxruntime)
    other = PLAIN if expected.name == TRAINING else TRAINING
    found = []
    if expected.name not in installed:
        found.append(f"{expected.name} not selected")
    elif Version(installed[expected.name]) not in expected.specifier:
        found.append(f"{expected.name} {installed[expected.name]} is not {expected.specifier}")
    if other in installed:
        found.append(f"{other} {installed[other]} would be installed beside {expected.name}")
    if target.numpy and Version(installed.get("numpy", "0")) not in SpecifierSet(target.numpy):
        found.append(f"numpy {installed.get('numpy')} is not {target.numpy}")
    return found


def check(target: Target, python: str, requirements: list[str]) -> Outcome:
    installed, error = resolve(target, python, requirements_for(target, python, requirements))
    return Outcome(target, python, installed, error, problems_of(target, installed, error))


def check_all(targets=TARGETS, requirements: list[str] | None = None, jobs: int = 6) -> list[Outcome]:
    requirements = project_requirements() if requirements is None else requirements
    work = [(target, python) for target in targets for python in target.pythons]
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(lambda item: check(*item, requirements), work))


def markdown_table(targets=TARGETS) -> str:
    rows = ["| OS | CPU | Python | engines | onnxruntime | checked by |", "|---|---|---|---|---|---|"]
    for target in targets:
        pythons = "-".join(dict.fromkeys((target.pythons[0], target.pythons[-1])))
        where = target.os + (f" ({target.examples})" if target.examples else "")
        runtime = target.onnxruntime.replace(">=", " >= ").replace("==", " ").replace(",<", ", < ")
        if target.numpy:
            runtime += f", numpy {target.numpy}"
        if not target.onnxruntime:
            runtime = f"**cannot install**: {target.advice}"
        rows.append(f"| {where} | {target.cpu} | {pythons} | {target.engines} | {runtime} | {target.tested} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", "--readme", action="store_true",
                        help="rewrite the table in docs/platforms.md (no check); --readme is the old name")
    args = parser.parse_args()
    if args.write:
        replace_block("platforms", markdown_table(), PAGE)
        return
    failed = 0
    for outcome in check_all():
        target = outcome.target
        ort = next((f"{name} {version}" for name, version in outcome.installed.items() if name in (PLAIN, TRAINING)),
                   "nothing")
        status = "FAIL" if outcome.problems else "ok"
        print(f"{status:<4} {target.os} {target.cpu} py{outcome.python}: {ort}"
              + (f", numpy {outcome.installed['numpy']}" if "numpy" in outcome.installed else "")
              + (f" -- {'; '.join(outcome.problems)}" if outcome.problems else ""), flush=True)
        failed += bool(outcome.problems)
    if failed:
        sys.exit(f"{failed} platform row(s) do not hold")


if __name__ == "__main__":
    main()
