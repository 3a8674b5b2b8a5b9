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
from lakehouse.core.sqlfiles import load, render
from lakehouse.lake.config import LakeConfig
from lakehouse.lake.publish import host_of, run, session
from lakehouse.lake.schema import TABLES, require_tables
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
    """Maintain the lake; ``unless_within``: do nothing when any host maintained it that recently."""
    report = MaintainReport()
    with session(layout, config, with_catalog=False) as con:  # the root's writers go on meanwhile
        require_tables(con)
        report.files_before = live_files(con)
        last = in_turn(con, "maintain the lake", lambda: _settle_rows(con, layout, report, unless_within))[0]
        if last is not None:
            report.skipped = f"maintained {last:%Y-%m-%d %H:%M:%S} UTC by another host"
            report.files_after = report.files_before
            return report
        report.cleanup_error = clean_up(con, keep, grace, report)
        if report.cleanup_error is None:  # a failed step may leave the connection unusable: not counted then
            report.files_after = live_files(con)
    return report


def _settle_rows(
    con: duckdb.DuckDBPyConnection, layout: Layout, report: MaintainReport, unless_within: timedelta | None
) -> datetime | None:
    """Inside the turn: the hidden rows deleted and this maintenance recorded, unless a recent one was
    (its time returned)."""
    if unless_within is not None:
        (last,) = con.execute(load("lake/last_maintenance")).fetchone()
        if last is not None and datetime.now(UTC) - last < unless_within:
            return last
    for table in TABLES:
        sql = render(
            load("lake/hidden_rows"),
            appended=table.appended,
            partition=table.partition,
            prefer=table.prefer,
            kept=table.kept("appended"),
        )
        con.execute(sql)
        (hidden,) = con.execute("SELECT count(*) FROM hidden_rows").fetchone()
        if hidden:  # a delete makes the appends committing meanwhile retry: only when there is one
            con.execute(render(load("lake/delete_hidden"), appended=table.appended))
            report.hidden_rows_deleted += hidden
    con.execute(
        "INSERT INTO lake.lake_maintenance VALUES (?, now(), ?)",
        [host_of(layout), report.hidden_rows_deleted],
    )
    return None


def clean_up(
    con: duckdb.DuckDBPyConnection, keep: timedelta, grace: timedelta, report: MaintainReport
) -> str | None:
    """Flush, rewrite, merge, expire the snapshots older than ``keep``, delete files unread for ``grace``
    (sql/lake/maintain.sql); a one-line error when it stopped part way (what it did stays done; the next
    maintenance goes on)."""
    con.execute("SET VARIABLE keep_snapshots = ?", [keep])
    con.execute("SET VARIABLE file_grace = ?", [grace])
    try:  # fetchall: a result left unread is rolled back by the next statement
        counts = [
            con.execute(statement.query).fetchall()[0][0]
            for statement in duckdb.extract_statements(load("lake/maintain"))
        ]
    except duckdb.Error as exc:
        return f"the lake's files were not all cleaned up: {db.one_line(exc)}"
    _, _, report.files_merged, report.snapshots_expired, report.files_deleted, report.orphans_deleted = counts
    return None


def live_files(con: duckdb.DuckDBPyConnection) -> int:
    return sum(run(con, load("lake/live_files"), "read the lake", [t.appended]).fetchone()[0] for t in TABLES)
