"""Retention in the lake: ``prune`` deletes evidence days and replay runs before a day, records the lake's
retention (no host publishes those rows again), expires the snapshots that still held them and
deletes the files nothing references any more."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import date

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import CatalogError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.lake.config import LakeConfig
from lakehouse.lake.publish import CONFLICT_RETRIES, LakeUnreachableError, create_tables_in, rollback, session


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
        for attempt in range(CONFLICT_RETRIES):
            try:
                con.execute("BEGIN")
                con.execute("UPDATE lake.lake_lock SET pushes = pushes + 1")
                report.evidence, report.replay_runs = con.execute(load("lake/prune")).fetchone()
                con.execute("COMMIT")
                break
            except duckdb.TransactionException as exc:  # a host published meanwhile: again
                rollback(con)
                if attempt == CONFLICT_RETRIES - 1:
                    raise CatalogError(f"cannot prune the lake: {db.one_line(exc)}") from exc
                time.sleep(0.05 * (attempt + 1))
            except duckdb.Error as exc:
                rollback(con)
                raise LakeUnreachableError(f"cannot prune the lake: {db.one_line(exc)}") from exc
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
