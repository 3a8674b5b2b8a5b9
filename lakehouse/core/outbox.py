"""What a root joined to a lake still owes it: one marker file a commit, removed once a push sent it.

A writer marks before its rows become visible (materialize's marker is an operation of its commit
journal; a replay marks before it appends its line), so a process killed at any instant leaves a
marker behind. A marker names the lake tables its commit wrote and the process that wrote it.

Once the writer's rows are in the logs (:func:`committed`) and a mirror of the catalog that began
after that has finished (:func:`mirroring`, then :func:`mirrored`), the marker says ``mirrored``: a push
that reads the catalog from then on covers it, whoever pushes and whether or not its writer still runs.

A push clears only the markers it covered ("settled" when listed): its tables, and a marker that says
mirrored, or whose writer was already gone when the markers were listed (the pusher then mirrors the
logs before it pushes: the dead writer's rows may be in the logs only). A marker of a writer alive at
the listing that does not say mirrored stays, even if the writer dies during the push, and so does one
of a writer in the pusher's own process whose rows are still being written or mirrored (the OTLP
receiver's publisher thread beside its materialize). Publishing is idempotent by key, so a marker left
by a push that committed and then died costs one push that sends nothing.

While a ``lakehouse lake publisher`` runs for the root (it holds :func:`publisher_lock`), writers leave
their markers to it instead of pushing themselves (:func:`publisher_pid`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lakehouse.core.files import atomic_write
from lakehouse.core.paths import Layout


@dataclass(frozen=True)
class Marker:
    path: Path
    tables: frozenset[str] | None  # None: every table (a marker that cannot be read counts as such)
    pid: int | None
    settled: bool = True  # when listed: mirrored, or its writer gone; a push that follows covers its rows
    mirrored: bool = False  # its rows were in the catalog when listed

    @property
    def orphaned(self) -> bool:
        """Settled but not mirrored (its writer died, or cannot be told): a pusher mirrors the logs first."""
        return self.settled and not self.mirrored


def joined(layout: Layout) -> bool:
    return layout.lake_config.exists()


def marker(layout: Layout, name: str | None = None) -> Path:
    """Where a commit's marker goes (a fresh name unless the commit has one, e.g. its receipt)."""
    name = name or f"{os.getpid()}-{uuid.uuid4().hex}"
    return layout.lake_outbox / f"{name.replace(':', '_')}.json"


def entry(what: str, tables: list[str] | None = None) -> dict[str, object]:
    """A marker's content: what committed, the lake tables it wrote (None: any of them), and who."""
    return {"what": what, "tables": tables, "pid": os.getpid(), "mirrored": False}


# This process's markers whose rows are still being written, and those whose rows are in the logs
# but not yet in a finished mirror. Thread-safe: the OTLP receiver writes and publishes on threads.
_lock = threading.Lock()
_writing: set[Path] = set()
_committed: set[Path] = set()


def mark(layout: Layout, what: str, tables: list[str] | None = None) -> Path | None:
    """Mark that rows are about to be committed (nothing when the root has not joined a lake); the
    writer says :func:`committed` once they are in the logs."""
    if not joined(layout):
        return None
    path = marker(layout)
    register(path)
    atomic_write(path, (json.dumps(entry(what, tables)) + "\n").encode())
    return path


@contextlib.contextmanager
def owing(layout: Layout, what: str, tables: list[str] | None = None) -> Iterator[Path | None]:
    """Marked before the block writes its rows, committed after it (also when it raised: what it
    wrote is in the logs)."""
    path = mark(layout, what, tables)
    try:
        yield path
    finally:
        committed(path)


def register(path: Path) -> None:
    """A marker this process writes (before the file exists), whose rows are about to be written."""
    with _lock:
        _writing.add(path)


def committed(path: Path | None) -> None:
    """The marker's rows are all in the logs: the next mirror this process finishes covers them."""
    if path is None:
        return
    with _lock:
        if path in _writing:
            _writing.discard(path)
            _committed.add(path)


def mirroring() -> list[Path]:
    """Before a mirror reads the logs: the markers it will cover (pass them to :func:`mirrored`)."""
    with _lock:
        return list(_committed)


def mirrored(paths: list[Path]) -> None:
    """After a mirror finished: the markers listed before it say ``mirrored`` (those a push already
    removed stay removed; a marker that cannot be rewritten stays as it is, and is mirrored again by
    whoever pushes after this process has gone)."""
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            raw = json.loads(path.read_text(encoding="utf-8"))
            atomic_write(path, (json.dumps({**raw, "mirrored": True}) + "\n").encode())
        with _lock:
            _committed.discard(path)


def pending(layout: Layout) -> list[Marker]:
    """The markers in the outbox (those another push removes meanwhile are left out)."""
    found = []
    for path in sorted(layout.lake_outbox.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            tables = raw.get("tables")
            pid, done = raw.get("pid"), raw.get("mirrored") is True
            settled = done or _settled(pid, path)
            found.append(Marker(path, None if tables is None else frozenset(tables), pid, settled, done))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, AttributeError, TypeError):
            found.append(Marker(path, None, None))
    return found


def owed_tables(markers: list[Marker]) -> set[str] | None:
    """The lake tables the markers owe rows to (None: every table)."""
    owed: set[str] = set()
    for found in markers:
        if found.tables is None:
            return None
        owed |= found.tables
    return owed


def clear_covered(markers: list[Marker], pushed: set[str] | None) -> None:
    """Remove the markers a push of ``pushed`` tables (None: all) covered (see the module's docstring)."""
    for found in markers:
        covered = pushed is None or (found.tables is not None and found.tables <= pushed)
        if covered and found.settled:
            with contextlib.suppress(OSError):
                found.path.unlink()


def settled(markers: list[Marker]) -> list[Marker]:
    """The markers a push would clear (what it has to do)."""
    return [found for found in markers if found.settled]


def _settled(pid: int | None, path: Path) -> bool:
    """Whether a writer's rows are all in the logs, short of a marker saying mirrored: it is gone, or it
    is this process and the marker is none of this process's own in flight (a pid reused, a journal
    replayed)."""
    if pid == os.getpid():
        with _lock:
            return path not in _writing and path not in _committed
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, someone else's
        return False
    return False


def publisher_lock(layout: Layout) -> Path:
    """Held by a running ``lakehouse lake publisher`` for its whole life (its pid written in it)."""
    return layout.state_dir / "lake_publisher.lock"


def publisher_pid(layout: Layout) -> int | None:
    """The pid of the publisher running for this root, or None when none runs (a probe of its lock)."""
    path = publisher_lock(layout)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # granted at once unless the publisher holds it
        except BlockingIOError:
            with contextlib.suppress(ValueError):
                return int(os.pread(fd, 32, 0) or b"0") or -1
            return -1
        return None
    finally:
        os.close(fd)  # releases the probe's shared lock


def oldest_age_s(markers: list[Marker]) -> float | None:
    """Seconds since the oldest pending marker was written (how far the lake lags), None without any."""
    ages = []
    for found in markers:
        with contextlib.suppress(OSError):
            ages.append(time.time() - found.path.stat().st_mtime)
    return max(ages) if ages else None
