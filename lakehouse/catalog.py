"""The catalog ``data/lakehouse.duckdb``: mirror tables of the JSONL truth, for SQL (PRODUCT.md §6).

Every write connection is short-lived. When another process holds the file, writers
record that the mirror is behind (``data/_state/catalog_behind``) and carry on; the next
run or ``lakehouse sync`` catches up. Syncs insert only rows whose key is missing, so
they are idempotent.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from lakehouse import db, evidence
from lakehouse.errors import CatalogError, CatalogLockedError
from lakehouse.paths import Layout
from lakehouse.sqlfiles import load


@dataclass
class SyncReport:
    evidence: int = 0
    receipts: int = 0
    quarantine: int = 0
    repaired: str | None = None  # where a damaged catalog was moved aside


def behind_flag(layout: Layout) -> Path:
    return layout.state_dir / "catalog_behind"


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    db.run_sql(con, load("schema/catalog"))


def _inserted(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> int:
    row = db.run_sql(con, sql, params).fetchone()
    return int(row[0]) if row else 0


def _sync_into(con: duckdb.DuckDBPyConnection, layout: Layout, parts: list[Path] | None) -> SyncReport:
    report = SyncReport()
    if parts is not None and not _caught_up_before_last_run(con, layout):
        parts = None  # an earlier run's mirror was missed (crash, lock): catch up on everything
    files = [p.as_posix() for p in (parts if parts is not None else evidence.parquet_parts(layout))]
    con.execute("BEGIN")
    if files:
        report.evidence = _inserted(con, load("schema/sync_evidence"), {"files": files})
    if layout.receipts.exists() and layout.receipts.stat().st_size:
        report.receipts = _inserted(con, load("schema/sync_receipts"), {"path": layout.receipts.as_posix()})
    if layout.quarantine.exists() and layout.quarantine.stat().st_size:
        report.quarantine = _inserted(
            con, load("schema/sync_quarantine"), {"path": layout.quarantine.as_posix()}
        )
    con.execute("COMMIT")
    return report


def _caught_up_before_last_run(con: duckdb.DuckDBPyConnection, layout: Layout) -> bool:
    """Whether the catalog holds every receipt but the newest (receipts and evidence sync together)."""
    with open(layout.receipts, "rb") as handle:
        runs = sum(1 for line in handle if line.strip())
    row = con.execute("SELECT count(*) FROM receipts").fetchone()
    return row is not None and row[0] == runs - 1


def sync(layout: Layout, *, parts: list[Path] | None = None) -> SyncReport:
    """Bring the catalog up to date with the files; repair it if it is damaged."""
    repaired = None
    try:
        report = _sync_once(layout, parts)
    except CatalogLockedError:
        raise
    except CatalogError:
        if not layout.catalog.exists():
            raise
        repaired = _move_aside(layout.catalog)
        report = _sync_once(layout, None)
    report.repaired = repaired
    behind_flag(layout).unlink(missing_ok=True)
    return report


def _sync_once(layout: Layout, parts: list[Path] | None) -> SyncReport:
    with db.catalog(layout.catalog) as con:
        try:
            _ensure_schema(con)
            return _sync_into(con, layout, parts)
        except duckdb.Error as exc:
            raise CatalogError(f"catalog sync failed: {db.one_line(exc)}") from exc


def _move_aside(path: Path) -> Path:
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    path.rename(target)
    with contextlib.suppress(FileNotFoundError):
        path.with_name(path.name + ".wal").rename(target.with_name(target.name + ".wal"))
    return target


def mirror_after_materialize(layout: Layout, receipt: dict[str, Any]) -> str | None:
    """Mirror a run's output; return a one-line warning instead of failing when the catalog is busy."""
    flag = behind_flag(layout)
    parts = None if flag.exists() else [layout.root / p["parquet"] for p in receipt["partitions"]]
    try:
        sync(layout, parts=parts)
    except CatalogError as exc:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text(receipt["receipt_id"] + "\n")
        return f"evidence written, but the catalog mirror is behind ({exc}); run 'lakehouse sync' to catch up"
    return None


def rebuild(layout: Layout) -> SyncReport:
    """Drop the catalog and mirror everything again from the files."""
    for suffix in ("", ".wal"):
        Path(str(layout.catalog) + suffix).unlink(missing_ok=True)
    return sync(layout)
