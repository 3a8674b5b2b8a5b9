"""The publisher a host keeps (``lakehouse lake publisher``): a joined root's commits published off their path.

While it runs it holds ``data/_state/lake_publisher.lock`` (core/outbox), and the root's writers
(materialize, replays, prices, the OTLP receiver) only mark the outbox and return: a replay in a joined
root no longer waits for the lake. Every ``interval`` seconds (start to start: a slow push does not
stretch the lag) it publishes everything pending in one push (one lake transaction for all the commits
since the last), so the lake lags by about an interval and a push. When it stops (SIGTERM, Ctrl-C) it
gives up its lock, then publishes what is pending once more: from then on the writers publish
themselves again, and none was left waiting on it. Killed at any instant it loses nothing: markers stay
until a push covers them, and publishing is idempotent by key.

It connects to the lake when it starts (the extensions' load and the lake's attach, ~0.5-1 s of CPU,
paid once), and keeps that connection between pushes.

Every ``maintain_every_s`` it maintains the lake too (lake/maintain.py), unless another host did within
that time: in a fleet, about one publisher a period does it.

``lakehouse lake publisher --nice N`` runs it below the host's own work (:func:`lower_priority`).

Its state (``data/_state/lake_publisher.json``: pid, pushes, the last push and warning) is what
``lakehouse lake status`` reports beside the lag (the age of the oldest pending marker).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lakehouse import lake, pipeline
from lakehouse.core import outbox
from lakehouse.core.errors import LakehouseError, LockBusyError
from lakehouse.core.files import atomic_write, exclusive_lock
from lakehouse.core.paths import Layout
from lakehouse.core.stop import Stopping

DEFAULT_INTERVAL_S = 2.0
DEFAULT_MAINTAIN_EVERY_S = 600.0  # small parts of ten minutes of pushes merged at once; the fleet takes turns
DEFAULT_NICENESS = 0  # the same priority as the host's work by default: see lower_priority
LOCK_WAIT_S = 1.0  # a status probe holds the lock for microseconds; another publisher, for its life


@dataclass
class PublisherState:
    pid: int
    interval_s: float
    started_at: str
    pushes: int = 0
    last_push_at: str | None = None
    last_warning: str | None = None
    maintenances: int = 0
    conflicts_retried: int = 0  # pushes run again after another host's commit conflicted with them
    last_push_s: float | None = None  # how long the last push took
    last_maintenance_at: str | None = None


def state_file(layout: Layout) -> Path:
    return layout.state_dir / "lake_publisher.json"


def read_state(layout: Layout) -> dict[str, Any] | None:
    """The running publisher's state (None when none runs for this root)."""
    if outbox.publisher_pid(layout) is None:
        return None
    try:
        return json.loads(state_file(layout).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run(
    layout: Layout,
    interval_s: float = DEFAULT_INTERVAL_S,
    stop: Stopping | None = None,
    on_push: Callable[[PublisherState], None] | None = None,
    *,
    maintain_every_s: float = DEFAULT_MAINTAIN_EVERY_S,
) -> PublisherState:
    """Publish what the root owes its lake every ``interval_s`` seconds until ``stop`` is set, and maintain
    the lake every ``maintain_every_s`` (0: never); return the final state. Raises LockBusyError when
    another publisher runs for this root."""
    kept = lake.KeptLake(lake.require(layout))
    stop = stop or threading.Event()
    state = PublisherState(os.getpid(), interval_s, _now())
    with contextlib.ExitStack() as held:
        held.callback(kept.close)
        try:
            held.enter_context(exclusive_lock(outbox.publisher_lock(layout), wait=True, timeout=LOCK_WAIT_S))
        except LockBusyError as exc:
            holder = outbox.publisher_pid(layout)
            raise LockBusyError(f"a publisher already runs for this root (pid {holder or '?'})") from exc
        _connect(kept, state, on_push)
        next_maintenance = time.monotonic() + maintain_every_s
        while not stop.is_set():
            began = time.monotonic()
            _publish_pending(layout, state, on_push, kept)
            if maintain_every_s and time.monotonic() >= next_maintenance:
                _maintain(layout, state, maintain_every_s, on_push)
                next_maintenance = time.monotonic() + maintain_every_s
            # every interval from the start of the last round: a slow push does not add to the lag
            stop.wait(max(0.0, interval_s - (time.monotonic() - began)))
    # The lock is given up: writers publish themselves from now on; what was left to us goes now.
    _publish_pending(layout, state, on_push)
    return state


def lower_priority(niceness: int) -> bool:
    """Run this process ``niceness`` steps below the host's work (Unix nice): a push that competes with a
    replay for the cores adds to the replay's latency, and the lake to lag less; bench/lake_fleet.py
    measures both (BENCHMARKS.md, "The fleet, fifth part"). On Linux a nice value belongs to a thread,
    and threads inherit their creator's: every thread already running (pyarrow's allocator starts one
    at import) is lowered, and those started later (DuckDB's) inherit it. Returns False where this
    system has no nice values (Windows) or would not lower this process."""
    if niceness <= 0:
        return True
    if not hasattr(os, "setpriority"):
        return False
    tasks = Path("/proc/self/task")
    threads = [int(entry.name) for entry in tasks.iterdir()] if tasks.is_dir() else [0]
    lowered = False
    for thread in threads:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            current = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(current + niceness, 19))
            lowered = True
    return lowered


def _connect(
    kept: lake.KeptLake, state: PublisherState, on_push: Callable[[PublisherState], None] | None
) -> None:
    """The lake connected at the start; one that cannot be reached yet is a warning (each push tries again)."""
    try:
        kept.open()
    except LakehouseError as exc:
        state.last_warning = f"the lake cannot be reached yet: {exc}"
        if on_push:
            on_push(state)


def _publish_pending(
    layout: Layout,
    state: PublisherState,
    on_push: Callable[[PublisherState], None] | None,
    kept: lake.KeptLake | None = None,
) -> None:
    if outbox.settled(outbox.pending(layout)):  # something a push would clear
        began = time.monotonic()
        state.last_warning = pipeline.publish(layout, hand_off=False, kept=kept)
        state.last_push_s = round(time.monotonic() - began, 3)
        state.conflicts_retried = lake.transact.retried.get(lake.PUSH, 0)
        state.pushes += 1
        state.last_push_at = _now()
        if on_push:
            on_push(state)
    atomic_write(state_file(layout), (json.dumps(asdict(state)) + "\n").encode())


def _maintain(
    layout: Layout, state: PublisherState, every_s: float, on_push: Callable[[PublisherState], None] | None
) -> None:
    """The lake maintained unless another host did within ``every_s``; a failure is a warning (the next
    period tries again), never the publisher's end."""
    try:
        report = pipeline.maintain_lake(layout, unless_within=timedelta(seconds=every_s))
    except LakehouseError as exc:
        state.last_warning = f"the lake was not maintained: {exc}"
    else:
        state.last_warning = report.cleanup_error
        if report.skipped is None:
            state.maintenances += 1
            state.last_maintenance_at = _now()
    if on_push and state.last_warning:
        on_push(state)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
