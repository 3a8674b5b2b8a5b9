"""SQL over the catalog: named queries (``sql/queries/*.sql``), ad-hoc SQL and ``stats`` (PRODUCT.md §6).

Reads use a read-only connection, so an analyst's read-only session and ours coexist; a
statement that writes is refused unless the caller asks for a write connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lakehouse.catalog import mirror, prices, statements
from lakehouse.catalog.results import ROWS_PER_BATCH, Result
from lakehouse.core import db
from lakehouse.core.errors import CatalogError, UsageError
from lakehouse.core.files import size_of
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, purpose, quote_ident, sql_dir

QUERIES_DIR = "queries"


def named_queries() -> dict[str, str]:
    """Every named query and its one-line description, by name."""
    return {
        path.stem: purpose(path.read_text(encoding="utf-8"))
        for path in sorted((sql_dir() / QUERIES_DIR).glob("*.sql"))
    }


def named_query_sql(name: str) -> str:
    names = named_queries()
    if name not in names:
        raise UsageError(f"no named query {name!r}; named queries: {', '.join(names)}")
    return load(f"{QUERIES_DIR}/{name}")


@contextlib.contextmanager
def query(
    layout: Layout,
    sql: str,
    *,
    write: bool = False,
    params: dict[str, Any] | None = None,
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Iterator[tuple[Result, str | None]]:
    """Run SQL on the catalog; yield the last statement's result (streamed while the block runs)
    and a warning when the mirror is behind.

    Read-only unless ``write``: see :mod:`lakehouse.catalog.statements` for what that lets through.
    ``params`` are bound to the last statement (the project's own SQL files; ad-hoc SQL has none).
    ``prepare`` runs first on the connection (the lake attaches itself and becomes the default there).
    """
    parsed = statements.split(sql)
    if not write:
        statements.refuse_writes(parsed)
    if write:  # a writing statement may first catch the catalog up (or make it)
        warning = (
            mirror.mirror_after_write(layout, "sql --write")
            if mirror.is_behind(layout) or not layout.catalog.exists()
            else None
        )
    else:
        warning = mirror.require_for_reading(layout, "query")
    with db.catalog(layout.catalog, read_only=not write) as con:
        try:
            # UUID, JSON, HUGEINT, TIME WITH TIME ZONE leave as themselves, not as text or DECIMAL.
            con.execute("SET arrow_lossless_conversion = true")
            warning = prices.with_stale_warning(con, layout, warning)
            if prepare is not None:
                prepare(con)
            execute = con.execute if write else statements.ReadOnlyRunner(con, layout.parquet).execute
            for statement in parsed[:-1]:
                execute(statement)
            cursor = execute(parsed[-1], params)
            if cursor is None or cursor.description is None:
                result = Result([], pa.RecordBatchReader.from_batches(pa.schema([]), []))
            else:
                columns = [column[0] for column in cursor.description]
                result = Result(columns, cursor.to_arrow_reader(ROWS_PER_BATCH))
        except duckdb.Error as exc:
            if not write and "read-only mode" in str(exc):
                raise UsageError("this statement writes to the catalog; pass --write to allow it") from exc
            raise db.query_error(exc) from exc
        yield result, warning


def run(layout: Layout, sql: str, *, write: bool = False) -> tuple[pa.Table, str | None]:
    """:func:`query`, its result read whole into an Arrow table (for results known to be small)."""
    with query(layout, sql, write=write) as (result, warning):
        try:
            return result.batches.read_all(), warning
        except (duckdb.Error, pa.ArrowException) as exc:
            raise db.query_error(exc) from exc


@dataclass
class LogLag:
    log: str
    bytes_behind: int
    lines_behind: int


@dataclass
class Stats:
    root: str
    evidence_by_kind: dict[str, int] = field(default_factory=dict)
    last_materialize: dict[str, Any] | None = None
    runs: int = 0
    pass_rate: float | None = None
    escalation_rate: float | None = None
    quarantined: int = 0
    quarantine_by_stream: dict[str, int] = field(default_factory=dict)
    corpus_documents: int = 0
    mirror_lag: list[LogLag] = field(default_factory=list)
    behind_flag: bool = False
    prices_stale: bool = False  # data/prices.csv changed since the catalog loaded it


def _lines_after(path: Path, offset: int) -> int:
    if size_of(path) <= offset:
        return 0
    with path.open("rb") as handle:
        handle.seek(offset)
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def stats(layout: Layout) -> Stats:
    """One screen on the state of the root, from the catalog as it is (reading never writes)."""
    mirror.require_for_reading(layout, "show")
    report = Stats(root=str(layout.root), behind_flag=mirror.is_behind(layout))
    try:
        with db.catalog(layout.catalog, read_only=True) as con:
            report.evidence_by_kind = dict(con.execute(load("stats/evidence_by_kind")).fetchall())
            row = con.execute(load("stats/last_materialize")).fetchone()
            if row:
                report.last_materialize = dict(zip(("receipt_id", "finished_at", "totals"), row, strict=True))
            (
                report.runs,
                report.pass_rate,
                report.escalation_rate,
                report.quarantined,
                report.corpus_documents,
            ) = con.execute(load("stats/summary")).fetchone()
            report.quarantine_by_stream = dict(con.execute(load("stats/quarantine_by_stream")).fetchall())
            report.mirror_lag = mirror_lag(layout, con)
            report.prices_stale = prices.is_stale(con, layout)
    except duckdb.Error as exc:
        raise CatalogError(f"cannot read the catalog: {db.one_line(exc)}") from exc
    return report


def mirror_lag(layout: Layout, con: duckdb.DuckDBPyConnection, database: str | None = None) -> list[LogLag]:
    """How far each mirrored log is ahead of the catalog (``database``: the catalog's name on ``con``)."""
    table = f"{quote_ident(database)}.main.mirror_state" if database else "mirror_state"
    seen = dict(con.execute(f"SELECT source, bytes FROM {table}").fetchall())
    lag = []
    for path in (layout.receipts, layout.quarantine, layout.replay_runs):
        offset = seen.get(path.name, 0)
        lag.append(LogLag(path.name, max(size_of(path) - offset, 0), _lines_after(path, offset)))
    return lag
