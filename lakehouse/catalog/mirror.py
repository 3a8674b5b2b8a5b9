"""The catalog ``data/lakehouse.duckdb``: what analysts attach for SQL (PRODUCT.md §6).

``evidence`` is a view over the root's committed Parquet parts, by absolute path, so it
is never behind and never copies a row; ``sync`` re-points it when the root moved.
``receipts`` and ``quarantine`` are mirror tables of their JSONL logs; ``rag_corpus`` and
its postings are the retrieval index of ``data/_kb/rag_corpus.jsonl`` (``retrieval``).

Every write connection is short-lived. When another process holds the file, writers
record that the mirror is behind (``data/_state/catalog_behind``) and carry on; the next
run or ``lakehouse sync`` catches up. Syncs insert only rows whose key is missing, so
they are idempotent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from lakehouse import __version__, retrieval
from lakehouse.catalog import prices
from lakehouse.core import db, outbox, retention
from lakehouse.core.errors import (
    CatalogDamagedError,
    CatalogError,
    StorageError,
    UsageError,
)
from lakehouse.core.files import complete_end, move_aside, size_of
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_literal, render, sql_dir
from lakehouse.ingest import evidence
from lakehouse.retrieval import vectors

# Bump when a mirror table's columns change: catalogs of another version re-mirror from the logs.
MIRROR_SCHEMA_VERSION = "6"


@dataclass
class SyncReport:
    receipts: int = 0
    quarantine: int = 0
    evidence_parts: int = 0
    documents: int = 0  # corpus documents (re)indexed for retrieval
    vectors: int = 0  # side-store vectors carried over by a rebuild
    replay_runs: int = 0
    pruned_runs: int = 0  # mirrored runs dropped as before the root's retention
    repaired: str | None = None  # where a damaged catalog was moved aside
    prices_loaded: bool = False  # data/prices.csv had changed since the last load


def behind_flag(layout: Layout) -> Path:
    return layout.state_dir / "catalog_behind"


def is_behind(layout: Layout) -> bool:
    return behind_flag(layout).exists()


def _inserted(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> int:
    row = db.run_sql(con, sql, params).fetchone()
    return int(row[0]) if row else 0


def _point_evidence_view(con: duckdb.DuckDBPyConnection, layout: Layout) -> int:
    parts = evidence.parquet_parts(layout)
    if parts:
        con.execute(render(load("schema/evidence_view"), parts=quote_literal(evidence.parquet_glob(layout))))
    else:
        con.execute(load("schema/evidence_view_empty"))
    return len(parts)


def _mirror_log(
    con: duckdb.DuckDBPyConnection, sql_name: str, path: Path, scratch: Path, then: tuple[str, ...] = ()
) -> int:
    """Mirror the lines of an append-only JSONL log that the catalog has not taken in yet.

    Only the bytes after the last mirrored offset are read (copied to ``scratch`` for DuckDB),
    so a mirror after each replay costs the new lines, not the history. A log that shrank
    (replaced) is read again whole; keys keep that idempotent.
    """
    size = size_of(path)
    seen = con.execute("SELECT bytes FROM mirror_state WHERE source = ?", [path.name]).fetchone()
    start = seen[0] if seen is not None and seen[0] <= size else 0
    end = complete_end(path, start, size) if size > start else start  # a line being appended: later
    if end == start:
        return 0
    if start == 0 and end == size:
        inserted = _apply(con, (sql_name, *then), path, path)
    else:
        scratch.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as src:
            src.seek(start)
            scratch.write_bytes(src.read(end - start))
        try:
            inserted = _apply(con, (sql_name, *then), scratch, path)
        finally:
            scratch.unlink(missing_ok=True)
    con.execute("DELETE FROM mirror_state WHERE source = ?", [path.name])
    con.execute("INSERT INTO mirror_state VALUES (?, ?)", [path.name, end])
    return inserted


def _apply(con: duckdb.DuckDBPyConnection, sql_names: tuple[str, ...], lines: Path, log: Path) -> int:
    """Run each SQL file over the new lines (``$path``); the first one's count is what was inserted.
    ``log``: the file the lines are from (``lines`` may be a scratch copy of its tail), named in errors."""
    try:
        counts = [_inserted(con, load(name), {"path": lines.as_posix()}) for name in sql_names]
    except CatalogError as exc:  # a line of the log DuckDB cannot read (run_sql wrapped its error)
        raise CatalogError(f"cannot mirror {log}: {exc}") from exc
    return counts[0]


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Mirror tables of an older layout are dropped: they are mirrored again from the JSONL logs."""
    con.execute("CREATE TABLE IF NOT EXISTS catalog_meta (key VARCHAR NOT NULL, value VARCHAR)")
    row = con.execute("SELECT value FROM catalog_meta WHERE key = 'mirror_schema'").fetchone()
    if row is None or row[0] != MIRROR_SCHEMA_VERSION:
        db.run_sql(con, load("schema/drop_mirrors"))
        con.execute("DELETE FROM catalog_meta WHERE key = 'mirror_schema'")
        con.execute("INSERT INTO catalog_meta VALUES ('mirror_schema', ?)", [MIRROR_SCHEMA_VERSION])


def _sync_into(con: duckdb.DuckDBPyConnection, layout: Layout, full: bool) -> SyncReport:
    """Mirror what the files hold that the catalog lacks; first (re)build its tables and views, unless
    the last rebuild was from the same code and root and left them all in place (not with ``full``).
    Every materialize mirrors its receipt: a rebuild's ~15 statements cost ~0.15-0.2 s a run."""
    report = SyncReport()
    digest = _schema_digest(layout)
    schema_current = not full and _schema_current(con, digest)
    con.execute("BEGIN")
    if schema_current:
        report.evidence_parts = len(evidence.parquet_parts(layout))
    else:
        _migrate(con)
        db.run_sql(con, load("schema/catalog"))
        db.run_sql(con, load("schema/replay_runs"))
        db.run_sql(con, load("schema/prices"))
        db.run_sql(con, load("schema/replay_views"))
        db.run_sql(con, render(load("schema/compare"), scope=""))
        report.evidence_parts = _point_evidence_view(con, layout)
        db.run_sql(con, load("otel/conventions"))
        db.run_sql(con, load("schema/otel_views"))
        db.run_sql(con, load("schema/cost_views"))
        _stamp_schema(con, digest)
    report.prices_loaded = prices.sync_into(con, layout)
    if not schema_current or not retrieval.is_current(con, layout):
        retrieval.prepare(con)
        report.documents = retrieval.catch_up(con, layout)
    scratch = layout.state_dir / "mirror_tail.jsonl"
    report.receipts = _mirror_log(con, "schema/sync_receipts", layout.receipts, scratch)
    report.quarantine = _mirror_log(
        con, "schema/sync_quarantine", layout.quarantine, scratch, then=("schema/sync_quarantine_retries",)
    )
    report.replay_runs = _mirror_log(con, "schema/sync_replay_runs", layout.replay_runs, scratch)
    try:
        kept = retention.kept_from(layout)
    except StorageError as exc:  # a catalog that cannot honour the retention is one left behind
        raise CatalogError(str(exc)) from exc
    if kept is not None:
        report.pruned_runs = _inserted(con, load("schema/prune_replay_runs"), {"before": kept})
    con.execute("COMMIT")
    return report


def sync(layout: Layout, *, full: bool = False) -> SyncReport:
    """Bring the catalog up to date with the files; move a damaged catalog aside and rebuild it.

    ``full``: rebuild the tables and views even when they look current (``lakehouse sync``). Only a file
    that is not a readable database is moved aside: a lock, or a log line the mirror cannot take, leaves
    the catalog as it is (a bad line once had every sync move it aside and fail again)."""
    repaired = None
    covered = outbox.mirroring()  # this process's commits in the logs before the mirror reads them
    try:
        report = _sync_once(layout, full)
    except CatalogDamagedError:
        if not layout.catalog.exists():
            raise
        repaired = str(move_aside(layout.catalog))
        report = _sync_once(layout, full)
    report.repaired = repaired
    behind_flag(layout).unlink(missing_ok=True)
    outbox.mirrored(covered)
    return report


# What DuckDB raises for a file that is not, or no longer, a readable database.
_DAMAGE = (duckdb.IOException, duckdb.SerializationException, duckdb.InternalException)


def _sync_once(layout: Layout, full: bool) -> SyncReport:
    with db.catalog(layout.catalog) as con:  # a file that is not a database: CatalogDamagedError
        try:
            return _sync_into(con, layout, full)
        except _DAMAGE as exc:
            raise CatalogDamagedError(f"catalog sync failed: {db.one_line(exc)}") from exc
        except duckdb.Error as exc:
            raise CatalogError(f"catalog sync failed: {db.one_line(exc)}") from exc


def _schema_digest(layout: Layout) -> str:
    """What the catalog's tables and views depend on: the code's version and shipped SQL, where the
    root's evidence is (the view names it by absolute path) and whether there is any."""
    digest = hashlib.sha256()
    for piece in (
        __version__,
        MIRROR_SCHEMA_VERSION,
        _sql_digest(),
        evidence.parquet_glob(layout),
        bool(evidence.parquet_parts(layout)),
    ):
        digest.update(f"{piece}\n".encode())
    return digest.hexdigest()


def _schema_current(con: duckdb.DuckDBPyConnection, digest: str) -> bool:
    """Whether the last rebuild of the tables and views was from the same code and root (its stamp in
    catalog_meta) and every table, view and macro it left is still there (an analyst may have dropped one)."""
    present = {name for (name,) in con.execute(load("schema/objects")).fetchall()}
    if "catalog_meta" not in present:
        return False
    row = con.execute("SELECT value FROM catalog_meta WHERE key = 'schema_stamp'").fetchone()
    if row is None:
        return False
    stamped, _, names = row[0].partition(" ")
    return stamped == digest and set(json.loads(names or "[]")) <= present


def _stamp_schema(con: duckdb.DuckDBPyConnection, digest: str) -> None:
    names = [name for (name,) in con.execute(load("schema/objects")).fetchall()]
    con.execute("DELETE FROM catalog_meta WHERE key = 'schema_stamp'")
    con.execute("INSERT INTO catalog_meta VALUES ('schema_stamp', ?)", [f"{digest} {json.dumps(names)}"])


_sql_digests: dict[Path, str] = {}


def _sql_digest() -> str:
    """The shipped SQL the catalog's tables and views are built from (read once a process)."""
    root = sql_dir()
    if root not in _sql_digests:
        digest = hashlib.sha256()
        for folder in ("schema", "otel", "corpus"):
            for path in sorted((root / folder).glob("*.sql")):
                digest.update(f"{folder}/{path.name}\0".encode() + path.read_bytes())
        _sql_digests[root] = digest.hexdigest()
    return _sql_digests[root]


def mirror_after_write(layout: Layout, what: str) -> str | None:
    """Sync after a write; return a one-line warning instead of failing when the catalog is busy."""
    try:
        sync(layout)
    except CatalogError as exc:
        flag = behind_flag(layout)
        flag.parent.mkdir(parents=True, exist_ok=True)
        if not flag.exists():
            flag.write_text(json.dumps({"behind": what}) + "\n")
        return f"{what} written, but the catalog mirror is behind ({exc}); run 'lakehouse sync' to catch up"
    return None


def require_for_reading(layout: Layout, what: str) -> str | None:
    """Before a read-only command: the catalog must exist (reading never creates it). Returns a one-line
    warning when its mirror is marked behind the logs; it is read as it is, and 'lakehouse sync' (a
    writing command) catches it up."""
    if not layout.catalog.exists():
        raise UsageError(
            f"no catalog at {layout.catalog} yet, so nothing to {what}: 'lakehouse materialize' "
            "(or 'lakehouse sync') makes it from the files under data/"
        )
    if is_behind(layout):
        return "the catalog's mirror is behind the logs: results may miss recent lines (run 'lakehouse sync')"
    return None


def runs_before(layout: Layout, before: date) -> int:
    """Mirrored replay runs before ``before`` (0 without a catalog)."""
    if not layout.catalog.exists():
        return 0
    with db.catalog(layout.catalog, read_only=True) as con:
        (count,) = db.run_sql(con, load("schema/count_replay_runs_before"), {"before": before}).fetchone()
    return count


def rebuild(layout: Layout) -> SyncReport:
    """Drop the catalog and mirror everything again from the files (the vector side-store is carried over)."""
    saved = vectors.save_side_store(layout)
    for suffix in ("", ".wal"):
        Path(str(layout.catalog) + suffix).unlink(missing_ok=True)
    report = sync(layout)
    if saved is not None:
        report.vectors = vectors.restore_side_store(layout, saved)
    return report
