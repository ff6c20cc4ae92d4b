"""The platform table (docs/platforms.md): marker evaluation per target (fast) and real resolutions (network)."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.skipif(sys.version_info < (3, 11), reason="the platform check reads pyproject.toml with tomllib")

if sys.version_info >= (3, 11):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tools"))
    import platforms
    from platforms import PLAIN, TARGETS, TRAINING, Target, problems_of, requirements_for


def _target(os_name: str, cpu: str, python: str) -> Target:
    return next(t for t in TARGETS if t.os.startswith(os_name) and t.cpu == cpu and python in t.pythons)


def _names(requirements: list[str]) -> dict[str, str]:
    return {r.split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip(): r for r in requirements}


def test_markers_choose_one_onnxruntime_per_target():
    requirements = platforms.project_requirements()
    for target in TARGETS:
        for python in target.pythons:
            chosen = _names(requirements_for(target, python, requirements))
            assert (TRAINING in chosen) + (PLAIN in chosen) == 1, (target, python, chosen)


def test_macos_catalina_gets_plain_onnxruntime_116_and_numpy_1():
    selected = requirements_for(_target("macOS 10.15", "Intel", "3.9"), "3.9", platforms.project_requirements())
    assert "onnxruntime<1.17,>=1.16" in selected and "numpy<2" in selected
    assert not any(r.startswith(TRAINING) for r in selected)


def test_training_where_its_wheels_exist():
    requirements = platforms.project_requirements()
    for os_name, cpu, python in (("Linux, glibc >= 2.28", "x86_64", "3.12"), ("Windows", "x86_64", "3.9"),
                                 ("macOS 11-12", "Intel", "3.9"), ("macOS 12+", "Apple silicon", "3.12")):
        assert any(r.startswith(TRAINING) for r in requirements_for(_target(os_name, cpu, python), python, requirements))


def test_problems_of_a_resolution():
    catalina = _target("macOS 10.15", "Intel", "3.9")
    assert problems_of(catalina, {"onnxruntime": "1.16.3", "numpy": "1.26.4"}, "") == []
    assert "is not" in problems_of(catalina, {"onnxruntime": "1.17.0", "numpy": "1.26.4"}, "")[0]
    assert "numpy 2.0.0" in problems_of(catalina, {"onnxruntime": "1.16.3", "numpy": "2.0.0"}, "")[0]
    assert "does not resolve" in problems_of(catalina, {}, "ERROR: no wheel")[0]
    linux = _target("Linux, glibc >= 2.28", "x86_64", "3.12")
    assert "beside" in problems_of(linux, {TRAINING: "1.19.2", PLAIN: "1.20.0", "numpy": "2.0.0"}, "")[0]
    armv7 = next(t for t in TARGETS if t.cpu == "armv7l")
    assert problems_of(armv7, {}, "ERROR: none") == [] and problems_of(armv7, {"numpy": "2.0"}, "")


def test_docs_table_is_generated_from_the_rows():
    from readme import read_block

    assert platforms.PAGE.name == "platforms.md"
    assert read_block("platforms", platforms.PAGE) == platforms.markdown_table()


@pytest.mark.network
def test_every_row_of_the_table_resolves_as_claimed():
    failures = [(o.target.os, o.target.cpu, o.python, o.problems) for o in platforms.check_all() if o.problems]
    assert not failures, failures


@pytest.mark.network
def test_a_broken_pin_fails_its_row():
    """Without the macOS 10.15 markers, Catalina would be sent to onnxruntime-training-cpu: no wheel."""
    catalina = _target("macOS 10.15", "Intel", "3.9")
    broken = [r.replace("or (sys_platform == 'darwin' and platform_release >= '20')", "or sys_platform == 'darwin'")
              for r in platforms.project_requirements() if "platform_release < '20'" not in r]
    assert broken != platforms.project_requirements()
    outcome = platforms.check(catalina, "3.9", broken)
    assert outcome.problems and "does not resolve" in outcome.problems[0]
