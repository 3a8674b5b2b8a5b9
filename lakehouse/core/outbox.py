"""What a root joined to a lake still owes it: one marker file a commit, removed once a push sent it.

A writer marks before its rows become visible (materialize's marker is an operation of its commit
journal; a replay marks before it appends its line), so a process killed at any instant leaves a
marker behind. A marker names the lake tables its commit wrote and the process that wrote it.

A push clears only the markers it covered: its tables, and a writer that is this process (whose
rows it mirrored before pushing) or that was already gone when the markers were listed (the pusher
then mirrors the logs before it pushes: the dead writer's rows may be in the logs only). A marker of
another process alive at the listing stays, even if it dies during the push: its last rows may
not be in the catalog the push read. Publishing is idempotent by key, so a marker left by a push that
committed and then died costs one push that sends nothing.

While a ``lakehouse lake publisher`` runs for the root (it holds :func:`publisher_lock`), writers leave
their markers to it instead of pushing themselves (:func:`publisher_pid`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from lakehouse.core.files import atomic_write
from lakehouse.core.paths import Layout


@dataclass(frozen=True)
class Marker:
    path: Path
    tables: frozenset[str] | None  # None: every table (a marker that cannot be read counts as such)
    pid: int | None
    settled: bool = True  # when listed, its writer was this process or gone: its rows are all in the logs

    @property
    def orphaned(self) -> bool:
        """Its writer had died when listed (or cannot be told): a pusher mirrors the logs first."""
        return self.settled and self.pid != os.getpid()


def joined(layout: Layout) -> bool:
    return layout.lake_config.exists()


def marker(layout: Layout, name: str | None = None) -> Path:
    """Where a commit's marker goes (a fresh name unless the commit has one, e.g. its receipt)."""
    name = name or f"{os.getpid()}-{uuid.uuid4().hex}"
    return layout.lake_outbox / f"{name.replace(':', '_')}.json"


def entry(what: str, tables: list[str] | None = None) -> dict[str, object]:
    """A marker's content: what committed, the lake tables it wrote (None: any of them), and who."""
    return {"what": what, "tables": tables, "pid": os.getpid()}


def mark(layout: Layout, what: str, tables: list[str] | None = None) -> Path | None:
    """Mark that rows are about to be committed (nothing when the root has not joined a lake)."""
    if not joined(layout):
        return None
    path = marker(layout)
    atomic_write(path, (json.dumps(entry(what, tables)) + "\n").encode())
    return path


def pending(layout: Layout) -> list[Marker]:
    """The markers in the outbox (those another push removes meanwhile are left out)."""
    found = []
    for path in sorted(layout.lake_outbox.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            tables = raw.get("tables")
            pid = raw.get("pid")
            found.append(Marker(path, None if tables is None else frozenset(tables), pid, _settled(pid)))
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


def _settled(pid: int | None) -> bool:
    """Whether a writer's rows are all in the logs: it is this process, or it is gone."""
    if pid is None or pid == os.getpid():
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
