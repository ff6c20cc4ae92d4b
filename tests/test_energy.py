"""What a picture costs in energy: the RAPL reader on a fake powercap tree (wrap-around
included), the estimate's arithmetic, the energy block of reports across a resume, and the
command's last line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_ort.core.checkpoint import Checkpoint, decode, encode
from nst_ort.platform.energy import (PRICE_ENV, WATTS_ENV, WATTS_PER_CORE, Energy, EnergyMeter, Rapl, cpu_class,
                                     estimate_wh, watts_per_core)
from tests.helpers import nst
from tests.tiny import random_images

WRAP = 262_143_328_850  # a package counter's max_energy_range_uj


def powercap(root: Path, packages: dict[str, int]) -> Path:
    """A fake /sys/class/powercap: packages intel-rapl:N with their counters, and a core
    subzone (intel-rapl:0:0) that must not be counted twice."""
    for name, microjoules in packages.items():
        zone = root / name
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "energy_uj").write_text(f"{microjoules}\n")
        (zone / "max_energy_range_uj").write_text(f"{WRAP}\n")
    (root / "intel-rapl:0:0").mkdir(exist_ok=True)
    (root / "intel-rapl:0:0" / "energy_uj").write_text("999999999\n")
    return root


def test_rapl_sums_the_packages_and_survives_a_counter_wrap(tmp_path):
    root = powercap(tmp_path, {"intel-rapl:0": WRAP - 2_000_000, "intel-rapl:1": 5_000_000})
    rapl = Rapl(root)
    assert [zone.name for zone in rapl.zones] == ["intel-rapl:0", "intel-rapl:1"]
    before = rapl.read()
    powercap(root, {"intel-rapl:0": 3_000_000, "intel-rapl:1": 6_500_000})  # package 0 wrapped past its range
    assert Rapl.joules(before, rapl.read()) == pytest.approx(5.0 + 1.5)


def test_the_meter_measures_with_rapl_across_wraps_and_carries_earlier_sessions(tmp_path):
    root = powercap(tmp_path, {"intel-rapl:0": WRAP - 1_000_000})
    cpu = [10.0]
    meter = EnergyMeter(earlier=(100.0, 7200.0), rapl=Rapl(root), cpu_clock=lambda: cpu[0])
    for microjoules in (2_000_000, 900_000_000, 1_000_000):  # 3 J, then 898 J, then a wrap: WRAP - 899 J + 1 J
        powercap(root, {"intel-rapl:0": microjoules})
        meter.sample()
    cpu[0] = 70.0
    energy = meter.energy()
    expected = 7200.0 + 3.0 + 898.0 + (WRAP - 900_000_000 + 1_000_000) / 1e6
    assert energy.method == "rapl" and energy.wh == pytest.approx(expected / 3600)
    assert energy.cpu_seconds == pytest.approx(160.0)


def test_without_counters_the_estimate_is_cpu_time_times_watts_per_core(tmp_path, monkeypatch):
    monkeypatch.setenv(WATTS_ENV, "5")
    cpu = [1.0]
    meter = EnergyMeter(earlier=(36.0, None), rapl=Rapl(tmp_path / "none"), cpu_clock=lambda: cpu[0])
    cpu[0] = 1.0 + 3600.0
    energy = meter.energy()
    assert energy == Energy(wh=(36.0 + 3600.0) * 5 / 3600, method="estimate", cpu_seconds=3636.0, watts_per_core=5.0)
    assert estimate_wh(3600, threads=2) == pytest.approx(10.0)
    monkeypatch.setenv(PRICE_ENV, "0.30")
    assert energy.as_dict()["cost"] == pytest.approx(energy.wh / 1000 * 0.30)
    assert "estimated" in energy.describe() and "0.30/kWh" not in energy.describe() and "at 0.3/kWh" in energy.describe()
    monkeypatch.delenv(PRICE_ENV)
    assert "cost" not in energy.as_dict()


def test_an_earlier_session_without_counters_makes_the_whole_run_an_estimate(tmp_path):
    root = powercap(tmp_path, {"intel-rapl:0": 0})
    assert EnergyMeter(earlier=(5.0, None), rapl=Rapl(root)).energy().method == "estimate"


@pytest.mark.parametrize("name, machine, kind", [
    ("Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz", "x86_64", "laptop"),
    ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", "x86_64", "laptop"),
    ("AMD Ryzen 7 4800HS with Radeon Graphics", "x86_64", "laptop"),
    ("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", "x86_64", "desktop"),
    ("Apple M1", "arm64", "apple"),
    ("", "aarch64", "arm"),
])
def test_the_default_power_follows_the_class_of_cpu(name, machine, kind, monkeypatch):
    assert cpu_class(name, machine) == kind
    monkeypatch.delenv(WATTS_ENV, raising=False)
    assert watts_per_core() in WATTS_PER_CORE.values()
    monkeypatch.setenv(WATTS_ENV, "not a number")
    assert watts_per_core() in WATTS_PER_CORE.values()


def test_a_checkpoint_keeps_the_energy_so_far_and_an_older_one_reads_as_unmeasured():
    checkpoint = Checkpoint(1, None, None, (), 3, 12.5, (42.0, None))
    assert decode(encode(checkpoint)).energy == (42.0, None)
    arrays = encode(Checkpoint(0, None, None, (), 0, 0.0, (1.0, 2.0)))
    meta = json.loads(arrays["meta"].tobytes().decode())
    del meta["energy"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    assert decode(arrays).energy == (0.0, None)


def test_a_run_reports_its_energy_and_the_command_says_it(tiny_models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(WATTS_ENV, "6")
    pictures = random_images(tmp_path, {"content": (48, 36), "style": (40, 40)})
    out, report = tmp_path / "out.png", tmp_path / "out.json"
    result = nst("stylize", pictures["content"], pictures["style"], "-o", out, "--report", report, "--size", "48",
                 "--iterations", "5", "--scales", "1", "--threads", "1", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    energy = json.loads(report.read_text())["energy"]
    assert energy["method"] in ("rapl", "estimate") and energy["watts_per_core"] == 6.0
    assert energy["cpu_seconds"] > 0 and energy["wh"] > 0
    if energy["method"] == "estimate":
        assert energy["wh"] == pytest.approx(energy["cpu_seconds"] * 6 / 3600, rel=1e-3)
    assert " Wh (" in result.stderr.splitlines()[-1] and Image.open(out).size == (48, 36)
