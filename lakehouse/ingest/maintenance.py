"""``compact`` (merge a day's Parquet parts) and ``rebuild`` (Parquet from the JSONL alone; the pipeline adds the catalog)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.core import db
from lakehouse.core.errors import StorageError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.ingest import evidence, journal


@dataclass
class CompactReport:
    days: list[str] = field(default_factory=list)
    parts_before: int = 0
    parts_after: int = 0


def _stage_part(commit: journal.Journal, table: pa.Table, target: Path) -> None:
    """Write a Parquet part under its temporary name; the journal makes it visible."""
    tmp = target.with_name(f".{target.name}.tmp")
    evidence.write_parquet(table, tmp)
    commit.rename(tmp, target)


def compact(
    layout: Layout, *, min_parts: int = 2, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> CompactReport:
    """Merge each day holding ``min_parts`` or more Parquet parts into one part."""
    report = CompactReport()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with journal.exclusive_root(layout, wait=wait, on_wait=on_wait):
        commit = journal.Journal(layout.root)
        for day_dir in sorted(layout.parquet.glob("day=*")):
            parts = sorted(day_dir.glob("*.parquet"))
            report.parts_before += len(parts)
            if len(parts) < min_parts:
                report.parts_after += len(parts)
                continue
            try:
                table = pa.concat_tables(pq.read_table(p, schema=evidence.EVIDENCE_SCHEMA) for p in parts)
            except (OSError, pa.ArrowException) as exc:
                raise StorageError(f"cannot read parts of {day_dir.name}: {exc}") from exc
            _stage_part(commit, table, day_dir / f"part-compact-{stamp}.parquet")
            for part in parts:
                commit.delete(part)
            report.days.append(day_dir.name.removeprefix("day="))
            report.parts_after += 1
        commit.commit(layout.commit_journal)
    return report


@dataclass
class RebuildReport:
    days: int = 0
    rows: int = 0
    catalog: Any = None  # what the caller's after_commit returned (the pipeline: the catalog's SyncReport)


def rebuild(
    layout: Layout,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    after_commit: Callable[[], Any] | None = None,
) -> RebuildReport:
    """Recreate every Parquet part from the evidence JSONL (the durable truth).

    ``after_commit`` runs under the root's lock once the new parts are committed (the pipeline
    recreates the catalog there).
    """
    report = RebuildReport()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with journal.exclusive_root(layout, wait=wait, on_wait=on_wait):
        commit = journal.Journal(layout.root)
        jsonl_days = {p.parent.name: p for p in layout.evidence_jsonl.glob("day=*/evidence.jsonl")}
        con = db.memory()
        try:
            for day_name, path in sorted(jsonl_days.items()):
                table = _read_jsonl_day(con, path)
                _stage_part(commit, table, layout.parquet / day_name / f"part-rebuild-{stamp}.parquet")
                report.days += 1
                report.rows += table.num_rows
        finally:
            con.close()
        for part in evidence.parquet_parts(layout):
            commit.delete(part)
        commit.commit(layout.commit_journal)
        report.catalog = after_commit() if after_commit else None
    return report


def _read_jsonl_day(con: duckdb.DuckDBPyConnection, path: Path) -> pa.Table:
    try:
        return con.execute(
            load("maintenance/read_evidence_jsonl"), {"path": path.as_posix()}
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise StorageError(f"cannot read {path}: {db.one_line(exc)}") from exc
