"""Retention in the lake: ``prune`` deletes evidence days and replay runs before a day, records the lake's
retention (no host publishes those rows again), expires the snapshots that still held them and
deletes the files nothing references any more."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import date

import duckdb

from lakehouse.core import db
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.lake.config import LakeConfig
from lakehouse.lake.publish import LakeUnreachableError, create_tables_in, in_turn, session


@dataclass
class LakePruneReport:
    evidence: int = 0
    replay_runs: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    orphans_deleted: int = 0


def count_before(layout: Layout, config: LakeConfig, before: date) -> LakePruneReport:
    """What pruning the lake before ``before`` would remove (read-only)."""
    with session(layout, config, read_only=True) as con:
        try:
            (evidence,) = con.execute("SELECT count(*) FROM lake.evidence WHERE day < ?", [before]).fetchone()
            (runs,) = con.execute("SELECT count(*) FROM lake.replay_runs WHERE day < ?", [before]).fetchone()
        except duckdb.Error as exc:
            raise LakeUnreachableError(f"cannot read the lake: {db.one_line(exc)}") from exc
    return LakePruneReport(evidence=evidence, replay_runs=runs)


def prune(layout: Layout, config: LakeConfig, before: date) -> LakePruneReport:
    """Delete the rows before ``before`` from the lake (one transaction), then expire and clean up."""
    report = LakePruneReport()
    with session(layout, config) as con:
        create_tables_in(con)
        con.execute("SET VARIABLE prune_before = ?", [before])
        con.execute("SET VARIABLE prune_host = ?", [f"{socket.gethostname()}:{layout.root}"])
        (report.evidence, report.replay_runs), _ = in_turn(
            con, "prune the lake", lambda: con.execute(load("lake/prune")).fetchone()
        )
        try:  # fetchall: a result left unread is rolled back by the next statement, its expiry with it
            counts = [
                con.execute(statement.query).fetchall()[0][0]
                for statement in duckdb.extract_statements(load("lake/maintain"))
            ]
        except duckdb.Error as exc:
            raise LakeUnreachableError(
                f"pruned the lake, but could not clean up its files: {db.one_line(exc)}"
            ) from exc
        report.snapshots_expired, report.files_deleted, report.orphans_deleted = counts
    return report
