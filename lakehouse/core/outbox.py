"""What a root joined to a lake still owes it: one marker file a commit, removed once a push sent it.

A writer marks before its rows become visible (materialize's marker is an operation of its commit
journal; a replay marks before it appends its line), so a process killed at any instant leaves a
marker behind and the next command publishes. A push lists the markers first and removes only
those, so a commit marked while it ran is published by the next one. Publishing is idempotent by
key, so a marker left by a push that committed and then died costs one push that sends nothing.
Without a marker, commands skip publishing: a no-op materialize stays a no-op.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path

from lakehouse.core.files import atomic_write
from lakehouse.core.paths import Layout


def joined(layout: Layout) -> bool:
    return layout.lake_config.exists()


def marker(layout: Layout, name: str | None = None) -> Path:
    """Where a commit's marker goes (a fresh name unless the commit has one, e.g. its receipt)."""
    name = name or f"{os.getpid()}-{uuid.uuid4().hex}"
    return layout.lake_outbox / f"{name.replace(':', '_')}.json"


def entry(what: str, tables: list[str] | None = None) -> dict[str, object]:
    """A marker's content: what committed, and the lake tables it wrote (None: any of them)."""
    return {"what": what, "tables": tables}


def mark(layout: Layout, what: str, tables: list[str] | None = None) -> Path | None:
    """Mark that rows are about to be committed (nothing when the root has not joined a lake)."""
    if not joined(layout):
        return None
    path = marker(layout)
    atomic_write(path, (json.dumps(entry(what, tables)) + "\n").encode())
    return path


def pending(layout: Layout) -> list[Path]:
    try:
        return sorted(layout.lake_outbox.glob("*.json"))
    except OSError:
        return []


def owed_tables(paths: list[Path]) -> set[str] | None:
    """The lake tables the markers owe rows to (None: every table, e.g. a materialize's or an unreadable marker)."""
    owed: set[str] = set()
    for path in paths:
        try:
            tables = json.loads(path.read_text(encoding="utf-8")).get("tables")
        except FileNotFoundError:  # another push took it meanwhile
            continue
        except (OSError, ValueError, AttributeError):
            return None
        if tables is None:
            return None
        owed.update(tables)
    return owed


def clear(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
