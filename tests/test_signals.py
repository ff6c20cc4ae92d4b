"""StopSignals: the first stop signal interrupts (or waits while results are written), a second exits."""

from __future__ import annotations

import os
import signal

import pytest

from nst_ort.jobs import signals
from nst_ort.jobs.signals import StopSignals


def test_first_signal_interrupts_and_names_the_exit_code():
    with StopSignals() as stop:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next bytecode
    assert stop.received == signal.SIGTERM and stop.exit_code == 143


def test_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_not_interruptible_records_only_a_second_signal_waits_and_a_third_exits(monkeypatch):
    exits, told = [], []
    monkeypatch.setattr(signals.os, "_exit", exits.append)
    stop = StopSignals(notify=told.append)
    stop.interruptible = False
    stop._handle(signal.SIGHUP, None)  # recorded, no KeyboardInterrupt while results are written
    assert stop.received == signal.SIGHUP and stop.exit_code == 129 and not exits
    stop._handle(signal.SIGINT, None)  # a double Ctrl-C does not lose the run: told to wait
    assert not exits and told and "being written" in told[0] and stop.exit_code == 129
    stop._handle(signal.SIGTERM, None)
    assert exits == [128 + signal.SIGTERM]


def test_a_second_signal_during_the_run_does_not_interrupt_twice():
    stop = StopSignals()
    with stop:
        with pytest.raises(KeyboardInterrupt):
            stop._handle(signal.SIGINT, None)
        stop._handle(signal.SIGINT, None)  # the run is already stopping: no second KeyboardInterrupt
    assert stop.received == signal.SIGINT


def test_no_signal_means_ctrl_c_code():
    assert StopSignals().exit_code == 130


def test_an_exiting_handler_leaves_with_the_signals_code():
    stop = StopSignals(exits=True)
    with pytest.raises(SystemExit) as leaving:
        stop._handle(signal.SIGTERM, None)
    assert leaving.value.code == 143 and stop.received == signal.SIGTERM
