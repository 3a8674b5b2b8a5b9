"""Retention in the lake: ``prune`` deletes evidence days and replay runs before a day, records the lake's
retention (no host publishes those rows again), expires the snapshots that still held them and
deletes the files nothing references any more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, render
from lakehouse.lake.config import LakeConfig
from lakehouse.lake.maintain import MaintainReport, clean_up
from lakehouse.lake.publish import host_of, run, session
from lakehouse.lake.schema import create_tables_in
from lakehouse.lake.transact import in_turn


@dataclass
class LakePruneReport:
    evidence: int = 0
    replay_runs: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    orphans_deleted: int = 0
    # Set when the rows are gone and the retention recorded, but old snapshots and files stay (the next prune's).
    cleanup_error: str | None = None


def count_before(layout: Layout, config: LakeConfig, before: date) -> LakePruneReport:
    """What pruning the lake before ``before`` would remove (read-only)."""
    with session(layout, config, read_only=True) as con:
        _set_variables(con, layout, before)
        evidence, runs = run(con, load("lake/count_pruned"), "read the lake").fetchone()
    return LakePruneReport(evidence=evidence, replay_runs=runs)


def _set_variables(con: duckdb.DuckDBPyConnection, layout: Layout, before: date) -> None:
    """The variables sql/lake/count_pruned.sql and prune.sql read: the first day kept, and who prunes."""
    con.execute("SET VARIABLE prune_before = ?", [before])
    con.execute("SET VARIABLE prune_host = ?", [host_of(layout)])


def prune(layout: Layout, config: LakeConfig, before: date) -> LakePruneReport:
    """Delete the rows before ``before`` from the lake (one transaction), then expire and clean up."""
    report = LakePruneReport()
    with session(layout, config) as con:
        create_tables_in(con)
        _set_variables(con, layout, before)
        sql = render(load("lake/prune"), counts=load("lake/count_pruned"))
        (report.evidence, report.replay_runs), _ = in_turn(
            con, "prune the lake", lambda: con.execute(sql).fetchone()
        )
        # every snapshot but the last expires, and its files go: the pruned rows cannot be time-travelled to
        cleaned = MaintainReport()
        report.cleanup_error = clean_up(con, timedelta(0), timedelta(0), cleaned)
        report.snapshots_expired = cleaned.snapshots_expired
        report.files_deleted, report.orphans_deleted = cleaned.files_deleted, cleaned.orphans_deleted
    return report
