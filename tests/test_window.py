"""Runs that keep to the artist's hours and leave the laptop usable: --until, --start-at and
--gentle (priority, one thread, a pause on battery with its state saved)."""

from __future__ import annotations

import collections
import time

import numpy as np
import psutil
import pytest
from PIL import Image

from nst_base.errors import NstError
from nst_ort.jobs import window
from nst_ort.jobs.window import BatteryPause, Deadline, DeadlineReached, wait_for_start
from nst_ort.options.clock import parse_clock
from nst_ort.options.stylize import StylizeOptions
from tests.helpers import nst, one_line_error, start_nst, stylize_args, wait_until
from tests.tiny import random_images

Progress = collections.namedtuple("Progress", "level iteration")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    return random_images(tmp_path_factory.mktemp("window"), {"content": (64, 48), "style": (40, 40)}, seed=3)


def test_times_are_read_as_clock_times_durations_or_dates():
    now = time.mktime((2026, 12, 7, 22, 30, 0, 0, 0, -1))
    assert parse_clock("+2h", "--until", now) == now + 7200
    assert parse_clock("23:00", "--until", now) == now + 1800  # later today
    assert parse_clock("07:00", "--until", now) == now + 8.5 * 3600  # tomorrow morning
    assert parse_clock("2026-12-24T07:00", "--until", now) == time.mktime((2026, 12, 24, 7, 0, 0, 0, 0, -1))
    with pytest.raises(NstError, match="has passed"):
        parse_clock("2020-01-01T00:00", "--until", now)
    with pytest.raises(NstError, match="--start-at must be a clock time"):
        parse_clock("soon", "--start-at", now)


def test_a_deadline_ends_the_run_at_an_iteration_or_a_tile():
    clock = [100.0]
    deadline = Deadline(at=105.0, clock=lambda: clock[0])
    deadline(Progress(1, 1), None)
    deadline.tile(0, 3, 9)
    clock[0] = 105.0
    with pytest.raises(DeadlineReached):
        deadline.tile(0, 4, 9)
    assert deadline.reached and issubclass(DeadlineReached, KeyboardInterrupt)


def test_start_at_waits_without_working():
    clock, naps, said = [0.0], [], []

    def sleep(seconds):
        naps.append(seconds)
        clock[0] += seconds

    wait_for_start(150.0, said.append, clock=lambda: clock[0], sleep=sleep)
    assert clock[0] == 150.0 and naps == [60.0, 60.0, 30.0] and "waiting until" in said[0]
    wait_for_start(None, said.append, clock=lambda: clock[0], sleep=sleep)
    assert len(said) == 1


def test_on_battery_the_run_saves_its_state_waits_for_the_charger_and_goes_on():
    readings = iter([False, True, True, True, False])  # plugged, then unplugged for three looks
    kept, said, naps = [], [], []
    pause = BatteryPause(lambda: kept.append(len(said)), said.append, sensor=lambda: next(readings),
                         clock=iter(range(0, 1000, 20)).__next__, sleep=naps.append)
    pause(Progress(1, 5), None)
    assert kept == [] and said == []
    pause(Progress(1, 6), None)
    assert kept == [0], "the state is saved before the pause is announced"
    assert "battery" in said[0] and "iteration 6" in said[0] and said[1].startswith("plugged in again")
    assert len(naps) == 2


def test_gentle_means_one_thread_unless_told(pictures):
    assert StylizeOptions(gentle=True).threads == 1 and StylizeOptions(gentle=True, threads=2).threads == 2
    assert StylizeOptions().threads == 0


def test_until_stops_a_run_at_its_time_and_resume_finishes_it_exactly(tiny_models_dir, pictures, tmp_path):
    whole = tmp_path / "whole.png"
    assert nst(*stylize_args(pictures, whole, "--quiet"), models_dir=tiny_models_dir).returncode == 0
    out, run_dir = tmp_path / "out.png", tmp_path / "out.png.nst-run"
    began = time.time()
    stopped = nst(*stylize_args(pictures, out, "--until", "+1s"), models_dir=tiny_models_dir)
    assert stopped.returncode == 75, stopped.stderr
    assert time.time() - began < 1 + 5, "stopped within seconds of the deadline"
    last = stopped.stderr.strip().splitlines()[-1]
    assert "as asked (--until)" in last and f"nst resume {run_dir}" in last and "Traceback" not in stopped.stderr
    assert Image.open(out).size == (64, 48) and (run_dir / "checkpoint.npz").is_file()
    resumed = nst("resume", run_dir, models_dir=tiny_models_dir)
    assert resumed.returncode == 0, resumed.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(whole)))
    one_line_error(nst(*stylize_args(pictures, tmp_path / "x.png", "--until", "2001-01-01T00:00"),
                       models_dir=tiny_models_dir), "--until 2001-01-01T00:00 has passed")


def test_start_at_waits_before_the_run(tiny_models_dir, pictures, tmp_path):
    began = time.time()
    result = nst("stylize", pictures["content"], pictures["style"], "-o", tmp_path / "o.png", "--size", "32",
                 "--iterations", "2", "--scales", "1", "--start-at", "+1s", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert "waiting until" in result.stderr and time.time() - began >= 1.0


def test_a_gentle_run_on_battery_pauses_with_its_state_saved_and_loses_nothing(tiny_models_dir, pictures, tmp_path,
                                                                                monkeypatch):
    plain = tmp_path / "plain.png"
    args = ["stylize", pictures["content"], pictures["style"], "--size", "64", "--iterations", "30", "--scales", "1",
            "--threads", "1"]
    assert nst(*args, "-o", plain, models_dir=tiny_models_dir).returncode == 0
    out, run_dir = tmp_path / "out.png", tmp_path / "out.png.nst-run"
    looks = []

    def battery():  # on battery for the third to fifth look; the state must be on disk while it waits
        looks.append(len(looks))
        unplugged = 2 <= len(looks) <= 4
        if len(looks) in (3, 4):
            assert (run_dir / "checkpoint.npz").is_file(), "paused without saving the run's state"
        return collections.namedtuple("Battery", "percent secsleft power_plugged")(50, 3600, not unplugged)

    monkeypatch.setattr(psutil, "sensors_battery", battery)
    monkeypatch.setattr(window, "BATTERY_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(window, "BATTERY_POLL_SECONDS", 0.001)
    monkeypatch.setattr("nst_ort.jobs.lifecycle.yield_priority", lambda: None)  # not this test process's priority
    result = nst(*args, "-o", out, "--gentle", models_dir=tiny_models_dir)
    assert result.returncode == 0, result.stderr
    assert "runs on battery" in result.stderr and "plugged in again: carrying on" in result.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(plain)))


def test_a_gentle_run_yields_the_processor(tiny_models_dir, pictures, tmp_path):
    process = start_nst(stylize_args(pictures, tmp_path / "o.png", "--gentle"), tiny_models_dir)
    try:
        wait_until(lambda: psutil.Process(process.pid).nice() >= 10, timeout=30, what="nice 10")
    finally:
        process.kill()
        process.communicate()
