"""The lake's tables, and the views analysts read them through.

Hosts publish without a lock for the fleet: every row goes into ``<table>_appended`` by a plain
append, which DuckLake lets any number of hosts commit at once. Two hosts that publish the same key
at the same instant both commit it, so analysts read ``<table>``: a view keeping one row a key (the
first appended; for quarantine, the resolved or latest state) and none of the days the lake's
retention pruned. ``lakehouse lake maintain`` deletes the rows the views hide, so the files hold one
row a key again. A lake made before (tables by the views' names) is adopted in place: its tables
are renamed ``<table>_appended``, metadata only.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import CatalogError
from lakehouse.core.sqlfiles import load, quote_ident, render
from lakehouse.lake.transact import LakeUnreachableError, in_turn


@dataclass(frozen=True)
class LakeTable:
    name: str
    key: str
    day: str | None = None  # the day column the lake's retention prunes by (None: never pruned)
    prefer: str = "rowid"  # of a key's appended rows, the one analysts see comes first in this order
    # what a retry changes of a row, as SQL over the row ``{a}``: each state of a key is published (quarantine)
    state: str | None = None

    @property
    def appended(self) -> str:
        return f"{self.name}_appended"

    @property
    def partition(self) -> str:
        """What one row a key is counted over: the day first when there is one, so that a query's day
        filter reaches the files through the view's window."""
        return ", ".join(quote_ident(c) for c in (self.day, self.key) if c)

    def kept(self, alias: str) -> str:
        """The expression a row's day is compared with the lake's retention by (a constant for unpruned tables)."""
        return f"{alias}.{quote_ident(self.day)}" if self.day else "DATE '9999-12-31'"

    def record_key(self, alias: str) -> str:
        """The expression a row is recorded as published by (lake/record.py): its key, and its state's
        digest when the table has one."""
        key = f"{alias}.{quote_ident(self.key)}"
        if not self.state:
            return key
        return f"{key} || ':' || md5(CAST({self.state.format(a=alias)} AS VARCHAR))"

    def sql(self, name: str, alias: str, **overrides: str) -> str:
        """The lake SQL file ``name`` filled with this table's slots (identifiers quoted): table, appended,
        key, partition, prefer, and kept over the rows named ``alias``."""
        slots = {
            "table": quote_ident(self.name),
            "appended": quote_ident(self.appended),
            "key": quote_ident(self.key),
            "partition": self.partition,
            "prefer": self.prefer,
            "kept": self.kept(alias),
        }
        return render(load(name), **{**slots, **overrides})


TABLES = (
    LakeTable("evidence", "evidence_id", day="day"),
    LakeTable("replay_runs", "recorded_run_id", day="day"),
    LakeTable("receipts", "receipt_id"),
    # a retry that resolved a line, or the latest reason of one still failing, is the state analysts see
    LakeTable(
        "quarantine",
        "quarantine_id",
        prefer="resolved_receipt_id IS NULL, quarantined_at DESC, rowid",
        # a time as epoch microseconds: its text would depend on the session's time zone
        state="json_array({a}.resolved_receipt_id, {a}.reason, epoch_us({a}.quarantined_at))",
    ),
    LakeTable("prices", "price_id"),  # a price row is its model and first day: a changed price is a new row
)
BOOKKEEPING = ("lake_retention", "lake_pushes", "lake_lock", "lake_maintenance")
ADDED_COLUMNS = ("lake_pushes.push_id",)  # columns later versions added to a bookkeeping table
CATALOG_VIEWS = ("replay_calls", "escalations", "spans", "llm_spans", "model_call_evidence")


def create_tables_in(con: duckdb.DuckDBPyConnection) -> None:
    """The lake's tables and views when missing, an older lake's tables adopted (hosts joining at once
    conflict: the loser looks again). Nothing is written when all are there."""
    if not _complete(*_present(con)):
        in_turn(con, "create the lake's tables", lambda: _create(con, *_present(con)), turn=False)


def tables_complete(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the lake's tables and views are this version's (read from the lake alone)."""
    return _complete(*_present(con))


def require_tables(con: duckdb.DuckDBPyConnection) -> None:
    """For work on the lake alone: its tables must be this version's (a push creates or adopts them)."""
    if not tables_complete(con):
        raise CatalogError(
            "the lake's tables are not this version's yet: 'lakehouse lake push' creates or adopts them"
        )


def _present(con: duckdb.DuckDBPyConnection) -> tuple[set[str], set[str]]:
    try:
        rows = con.execute(load("lake/objects_present")).fetchall()
    except duckdb.Error as exc:
        raise LakeUnreachableError(f"cannot read the lake: {db.one_line(exc)}") from exc
    tables = {name for name, kind in rows if kind in ("table", "column")}  # a column as "table.column"
    return tables, {name for name, kind in rows if kind == "view"}


def _complete(tables: set[str], views: set[str]) -> bool:
    return {t.appended for t in TABLES} | set(BOOKKEEPING) | set(ADDED_COLUMNS) <= tables and {
        t.name for t in TABLES
    } | set(CATALOG_VIEWS) <= views


def _create(con: duckdb.DuckDBPyConnection, tables: set[str], views: set[str]) -> None:
    """Inside one lake transaction: adopt, create, then the views (unqualified names: the views bind in
    the lake, whatever name an analyst attaches it under)."""
    for table in TABLES:
        if table.name in tables and table.appended not in tables:  # a lake made by an older version
            con.execute(f"ALTER TABLE lake.{quote_ident(table.name)} RENAME TO {quote_ident(table.appended)}")
    db.run_sql(con, load("lake/tables"))
    (database,) = con.execute("SELECT current_database()").fetchone()
    con.execute("USE lake")
    try:
        for table in TABLES:
            if table.name not in views:
                con.execute(table.sql("lake/one_row_a_key", "appended"))
        if not set(CATALOG_VIEWS) <= views:
            for name in ("schema/prices", "schema/replay_views", "otel/conventions", "schema/otel_views",
                         "schema/cost_views"):  # fmt: skip
                db.run_sql(con, load(name))
    finally:
        con.execute(f"USE {quote_ident(database)}")
