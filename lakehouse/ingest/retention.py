"""``prune``'s part in the root: evidence days before a day removed (Parquet parts and JSONL day files),
the retention recorded, in one commit journal under the root's lock.

The source streams are left alone: their bytes were materialized and are not read again (their
offsets stay). The catalog's part (mirrored replay runs) follows the recorded retention (catalog.mirror).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.core import retention
from lakehouse.core.errors import StorageError
from lakehouse.core.paths import Layout
from lakehouse.ingest import journal


@dataclass
class PrunePlan:
    before: date
    days: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # Parquet parts and JSONL day files
    evidence_rows: int = 0


def plan(layout: Layout, before: date) -> PrunePlan:
    """What pruning evidence before ``before`` removes (nothing is touched)."""
    found = PrunePlan(before)
    days = {d.name.removeprefix("day=") for d in layout.parquet.glob("day=*")} | {
        d.name.removeprefix("day=") for d in layout.evidence_jsonl.glob("day=*")
    }
    for day in sorted(d for d in days if d < before.isoformat()):
        found.days.append(day)
        parts = sorted(layout.parquet_day(day).glob("*.parquet"))
        found.files += parts
        try:
            found.evidence_rows += sum(pq.read_metadata(part).num_rows for part in parts)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"cannot read {parts[0].parent}: {exc}") from exc
        if layout.jsonl_day(day).exists():
            found.files.append(layout.jsonl_day(day))
    return found


def apply(
    layout: Layout, before: date, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> PrunePlan:
    """Remove the evidence days before ``before`` and record the retention (it only moves forward)."""
    with journal.exclusive_root(layout, wait=wait, on_wait=on_wait):
        done = plan(layout, before)  # again, under the lock: what is there now
        commit = journal.Journal(layout.root)
        for path in done.files:
            commit.delete(path)
        kept = retention.kept_from(layout)
        commit.write_json(layout.retention, retention.record(max(before, kept) if kept else before))
        commit.commit(layout.commit_journal)
        for day in done.days:  # the emptied day directories
            for folder in (layout.parquet_day(day), layout.jsonl_day(day).parent):
                _remove_empty(folder)
    return done


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # gone already, or something else lives there: left alone
        folder.rmdir()
