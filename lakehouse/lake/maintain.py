"""Maintenance of the lake: the rows its views hide deleted, small files merged, old snapshots expired,
files nothing references deleted; safe while other hosts publish and analysts read.

``lakehouse lake maintain`` runs it; a publisher runs it every ``--maintain-every`` (the fleet takes
turns: a maintenance records itself in ``lake_maintenance``, and a publisher whose turn finds a recent
one there leaves it). Snapshots newer than ``keep`` stay, so a reader's snapshot of that age still
reads: its files are deleted only once the snapshots that referenced them expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from lakehouse.core import db
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.lake.config import LakeConfig
from lakehouse.lake.publish import host_of, run, session
from lakehouse.lake.schema import TABLES, LakeTable, require_tables
from lakehouse.lake.transact import in_turn

KEEP_SNAPSHOTS = timedelta(hours=24)  # time travel an analyst keeps; the files behind it stay as long
FILE_GRACE = timedelta(minutes=10)  # a file nothing reads any more stays this long for queries under way


@dataclass
class MaintainReport:
    hidden_rows_deleted: int = 0  # a key's extra rows and days before the retention (what the views hid)
    files_before: int = 0  # data files the current snapshot reads, all tables
    files_after: int | None = None  # None: a cleanup step failed before they were counted
    files_merged: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    orphans_deleted: int = 0
    skipped: str | None = None  # why nothing was done (another host maintained within the interval)
    cleanup_error: str | None = None  # the rows are settled, the files wait for the next maintenance


def maintain(
    layout: Layout,
    config: LakeConfig,
    *,
    keep: timedelta = KEEP_SNAPSHOTS,
    grace: timedelta = FILE_GRACE,
    unless_within: timedelta | None = None,
) -> MaintainReport:
    """Maintain the lake; ``unless_within``: do nothing when any host maintained it that recently.

    Each step is a short transaction of its own, so that hosts appending meanwhile (an append and a
    delete from one table conflict, both ways) cost a retry of one table's delete, not the whole.
    """
    report = MaintainReport()
    with session(layout, config, with_catalog=False) as con:  # the root's writers go on meanwhile
        require_tables(con)
        report.files_before = live_files(con)
        last = in_turn(con, "maintain the lake", lambda: _claim(con, layout, unless_within))[0]
        if last is not None:
            report.skipped = (
                f"maintained {datetime.fromtimestamp(last, UTC):%Y-%m-%d %H:%M:%S} UTC by another host"
            )
            report.files_after = report.files_before
            return report
        report.hidden_rows_deleted = sum(_delete_hidden(con, table) for table in TABLES)
        report.cleanup_error = clean_up(con, keep, grace, report, compact_first=False)
        if report.cleanup_error is None:  # a failed step may leave the connection unusable: not counted then
            report.files_after = live_files(con)
    return report


def _claim(con: duckdb.DuckDBPyConnection, layout: Layout, unless_within: timedelta | None) -> float | None:
    """Inside the maintainers' turn: this maintenance recorded, unless one was within ``unless_within``
    (its time returned, epoch seconds): in a fleet, one publisher a period maintains."""
    within = unless_within.total_seconds() if unless_within is not None else -1.0
    last, recent = con.execute(load("lake/last_maintenance"), [within]).fetchone()
    if recent:
        return last
    con.execute("INSERT INTO lake.lake_maintenance VALUES (?, now(), NULL)", [host_of(layout)])
    return None


def _delete_hidden(con: duckdb.DuckDBPyConnection, table: LakeTable) -> int:
    """The rows of one table its view hides, found in a read-only pass, then deleted in a short
    transaction (again on conflict: a row once hidden stays hidden, and rowids survive merges)."""
    (hidden,) = run(con, table.sql("lake/hidden_rows", "appended"), "read the lake").fetchone()
    if not hidden:  # a delete makes the appends committing meanwhile retry: only when there is one
        return 0
    delete = table.sql("lake/delete_hidden", "appended")
    return in_turn(
        con, f"delete the rows {table.name} hides", lambda: con.execute(delete).fetchone()[0], turn=False
    )[0]


def clean_up(
    con: duckdb.DuckDBPyConnection,
    keep: timedelta,
    grace: timedelta,
    report: MaintainReport,
    *,
    compact_first: bool = True,
) -> str | None:
    """Expire the snapshots older than ``keep`` and delete files unread for ``grace`` (sql/lake/expire.sql),
    flush, rewrite and merge (sql/lake/compact.sql), in that order or, ``compact_first`` (a prune: the
    pruned rows' files rewritten, then gone), the other. A one-line error when a step failed: the steps
    after it wait for the next maintenance (DuckDB's internal errors leave the connection unusable), so
    maintenance expires first, and a merge that keeps failing stops nothing else."""
    steps = ["lake/compact", "lake/expire"] if compact_first else ["lake/expire", "lake/compact"]
    counts: dict[str, list[int]] = {}
    try:  # fetchall: a result left unread is rolled back by the next statement
        con.execute("SET VARIABLE keep_snapshots = ?", [keep])
        con.execute("SET VARIABLE file_grace = ?", [grace])
        for step in steps:
            counts[step] = [
                con.execute(statement.query).fetchall()[0][0]
                for statement in duckdb.extract_statements(load(step))
            ]
    except duckdb.Error as exc:
        return f"the lake's files were not all cleaned up: {db.one_line(exc)}"
    finally:
        _, _, report.files_merged = counts.get("lake/compact", [0, 0, 0])
        report.snapshots_expired, report.files_deleted, report.orphans_deleted = counts.get(
            "lake/expire", [0, 0, 0]
        )
    return None


def live_files(con: duckdb.DuckDBPyConnection) -> int:
    return sum(run(con, load("lake/live_files"), "read the lake", [t.appended]).fetchone()[0] for t in TABLES)
