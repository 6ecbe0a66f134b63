"""An interrupted verification has no verdict: it is neither passed nor failed."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time

import pytest

import ppca_stability._verify.theorems as theorems
from ppca_stability import verify


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_during_a_property_propagates_instead_of_failing_it(monkeypatch, interrupt):
    theorem = theorems.THEOREMS["orbit_count"]
    calls = {"n": 0}

    def check(problem):
        calls["n"] += 1
        if calls["n"] == 3:
            raise interrupt()
        theorem.check(problem)

    monkeypatch.setitem(theorems.THEOREMS, "orbit_count", dataclasses.replace(theorem, check=check))
    with pytest.raises(interrupt):
        verify(max_examples=20, theorems=["orbit_count"])
    assert calls["n"] >= 3  # hypothesis may replay the example before giving up


@pytest.mark.cli
def test_the_command_terminated_by_sigterm_prints_no_verdict_and_exits_143():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ppca_stability",
            "verify",
            "--examples",
            "100000",
            "--theorem",
            "orbit_count",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8.0)  # well into the examples (startup is about 1 s on an idle machine)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert "FAILED" not in out and "passed" not in out
    assert "terminated: no result" in err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_termination_lost_in_a_garbage_collector_callback_is_raised_again():
    """Python ignores an exception raised inside a garbage-collector callback (Hypothesis
    installs one): a SIGTERM arriving there used to be printed and lost, and the terminated
    command ran on. The handler raises the termination again every REPEAT_SECONDS until it
    reaches ordinary code."""
    import gc

    from ppca_stability import _cli

    def callback(phase, info):
        if phase == "start":
            _cli._terminate(signal.SIGTERM, None)  # its SystemExit is lost here

    previous = signal.getsignal(signal.SIGALRM)
    gc.callbacks.append(callback)
    try:
        with pytest.raises(SystemExit) as exc:
            gc.collect()
            gc.callbacks.remove(callback)
            deadline = time.monotonic() + 10 * _cli.REPEAT_SECONDS
            while time.monotonic() < deadline:
                pass
        assert exc.value.code == 128 + signal.SIGTERM
    finally:
        if callback in gc.callbacks:
            gc.callbacks.remove(callback)
        _cli._stop_repeating()
        signal.signal(signal.SIGALRM, previous)
