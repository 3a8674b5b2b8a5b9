"""SIGTERM or Ctrl-C stop a long-running command wherever its main thread is: the stop request that
`lake publisher` and `otlp serve` wait on can be set from a signal handler without deadlocking, and
other signals' wake-ups neither end a wait nor take a stop away from another waiter.

A `lake publisher` sent SIGTERM once never stopped in CI: its handler set a threading.Event while the
main thread, inside that event's wait, held the event's lock. The harness below sends the signal at
every line of a wait in turn (a trace function kills the process at the n-th line run), in a process of
its own so that a deadlock is a timeout; threading.Event is the control that shows the harness finds one.
The harness sends its signal from Python code, so a handler always runs at once: the other race, a
signal whose handler can only run after the select it arrived just before, is covered by the wake-up
fd, whose installation is checked directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from lakehouse.cli.group import stopped_by_signals

HARNESS = textwrap.dedent(
    """
    import os, signal, sys, threading
    from lakehouse.cli.group import stopped_by_signals
    from lakehouse.core import stop as stop_module

    kind = sys.argv[1]
    target = stop_module.__file__ if kind == "request" else threading.__file__

    def wait_killed_at(stop, kill_at):
        \"\"\"stop.wait(), with SIGTERM sent at the kill_at-th line it runs; False when the wait blocked
        before that line (then a helper thread sends the signal, so that the wait ends).\"\"\"
        lines, sent, rescued = 0, threading.Event(), threading.Event()
        def local(frame, event, arg):
            nonlocal lines
            if event == "line":
                lines += 1
                if lines == kill_at and not rescued.is_set():
                    sent.set()
                    os.kill(os.getpid(), signal.SIGTERM)
            return local
        def calls(frame, event, arg):
            return local if frame.f_code.co_filename == target else None
        def rescue():
            if not sent.wait(5.0):
                rescued.set()
                os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=rescue, daemon=True).start()
        sys.settrace(calls)
        try:
            assert stop.wait(30), kill_at  # a wake-up lost: 30 s, the test's timeout ends it first
        finally:
            sys.settrace(None)
        return not rescued.is_set()

    def new_stop():
        if kind == "request":
            context = stopped_by_signals()
            return context, context.__enter__()
        event = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: event.set())
        return None, event

    kill_at = 0
    while True:
        kill_at += 1
        context, stop = new_stop()
        reached = wait_killed_at(stop, kill_at)
        if context:
            context.__exit__(None, None, None)
        if not reached:
            break
    print(kill_at - 1)  # the lines a signal landed on
    """
)


def run_harness(kind: str, timeout: float, where: Path) -> subprocess.CompletedProcess[str]:
    """The harness in a process of its own, run from ``where`` (not the source tree: the installed package)."""
    return subprocess.run(
        [sys.executable, "-c", HARNESS, kind],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=where,
    )


def test_a_signal_at_any_line_of_a_wait_ends_the_wait(tmp_path: Path) -> None:
    done = run_harness("request", timeout=60, where=tmp_path)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 5  # the signal landed on every line up to the select


def test_the_harness_finds_the_deadlock_of_a_threading_event_set_by_a_handler(tmp_path: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        run_harness("event", timeout=10, where=tmp_path)


def test_the_signals_wake_a_wait_through_the_stop_request_s_socket_and_give_it_back_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stopped_by_signals() as stop:
        mine = signal.set_wakeup_fd(-1)  # the fd the interpreter's C handler writes to, put back at once
        signal.set_wakeup_fd(mine)
        assert mine == stop.fileno()
    assert signal.set_wakeup_fd(-1) == -1 and signal.getsignal(signal.SIGTERM) == before


def test_other_signals_end_no_wait_and_a_stop_ends_every_wait() -> None:
    """Threads waiting while SIGUSR1 (a handler of its own) wakes them again and again: none returns until
    the stop, then all do, and each says it was stopped."""
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    results: list[bool] = []
    try:
        with stopped_by_signals() as stop:
            waiters = [threading.Thread(target=lambda: results.append(stop.wait(30))) for _ in range(3)]
            for waiter in waiters:
                waiter.start()
            for _ in range(20):
                os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.2)
            assert all(waiter.is_alive() for waiter in waiters) and not results
            os.kill(os.getpid(), signal.SIGTERM)
            for waiter in waiters:
                waiter.join(10)
            assert results == [True, True, True] and stop.is_set()
    finally:
        signal.signal(signal.SIGUSR1, previous)
