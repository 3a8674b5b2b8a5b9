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


def mark(layout: Layout, what: str) -> Path | None:
    """Mark that rows are about to be committed (nothing when the root has not joined a lake)."""
    if not joined(layout):
        return None
    path = marker(layout)
    atomic_write(path, f'{{"what": "{what}"}}\n'.encode())
    return path


def pending(layout: Layout) -> list[Path]:
    try:
        return sorted(layout.lake_outbox.glob("*.json"))
    except OSError:
        return []


def clear(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
