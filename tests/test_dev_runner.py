"""`make dev` supervises: a child that exits is started again with backoff and a log
line, instead of taking the others down; Ctrl-C stops every child."""

import importlib.util
import os
import signal
import sys
import threading
import time

import pytest

from config.localservices import ROOT


@pytest.fixture
def dev():
    spec = importlib.util.spec_from_file_location("infra_dev", ROOT / "infra" / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_child_that_exits_is_restarted_with_growing_pauses(dev, monkeypatch, capsys):
    monkeypatch.setattr(dev, "BACKOFF_FIRST", 0.05)
    child = dev.Child("worker", [sys.executable, "-c", "import sys; sys.exit(3)"], backoff=0.05)
    child.start()
    pauses = []

    def restarted_twice():
        child.check(time.monotonic())
        if child.restart_at is not None and (not pauses or pauses[-1] != child.restart_at):
            pauses.append(child.restart_at)
        return child.restarts >= 2

    assert _until(restarted_twice)
    child.terminate()
    log = capsys.readouterr().out
    assert "worker exited with 3; restarting in" in log
    assert "worker: starting again (restart 2)" in log
    assert child.backoff > 0.05  # the pause grows while it keeps failing


def test_ctrl_c_stops_every_child(dev):
    children = [
        dev.Child(name, [sys.executable, "-c", "import time; time.sleep(600)"])
        for name in ("web", "worker", "beat")
    ]
    for child in children:
        child.start()
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    try:
        timer.start()
        dev.supervise(children)  # returns on Ctrl-C
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    for child in children:
        child.terminate()
    deadline = time.monotonic() + 20
    for child in children:
        child.wait(deadline)
    assert all(child.process.poll() is not None for child in children)
    assert all(child.restarts == 0 for child in children)
