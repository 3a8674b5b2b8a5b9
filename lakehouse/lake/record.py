"""What a root has published to its lake, recorded beside the root: a push finds its new rows without
reading the lake's keys, and holds the root's catalog only while it copies them out.

``data/_state/lake_published.duckdb`` holds, per table, the keys of the rows this root appended
(``published``), the pushes that appended them (``pushes``: committed or in flight), and the tables whose
record was verified against the lake (``verified``: the lake's catalog and data path, so a root that
joins another lake starts again). One push of a root at a time (:func:`lock`).

A push stages its rows, records their keys under its id as in flight, commits its lake transaction
(which writes the id into ``lake_pushes``), then marks its id committed. The next push settles any id
still in flight (:func:`settle`): found in ``lake_pushes``, it committed; not found, its keys are
forgotten and its rows go again. So a root appends each row once, whatever the instant it dies at.

A table not yet verified (the record is new, or belongs to another lake) is staged against the lake's
keys, as ``lakehouse lake push`` always does; the root's rows the lake already holds are then recorded
(:func:`record_held`) and the table counts as verified from then on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import StorageError
from lakehouse.core.files import move_aside
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_literal
from lakehouse.lake.config import LakeConfig
from lakehouse.lake.schema import LakeTable
from lakehouse.lake.transact import LakeUnreachableError

ALIAS = "lake_record"


def path(layout: Layout) -> Path:
    return layout.state_dir / "lake_published.duckdb"


def lock(layout: Layout) -> Path:
    """The lock one push of a root holds from staging to its record's last write."""
    return layout.state_dir / "lake_push.lock"


def identity(config: LakeConfig) -> str:
    """The lake a record belongs to: its catalog and where its data files go."""
    return f"{config.catalog} {config.data_path}"


@contextlib.contextmanager
def _wrapped(what: str) -> Iterator[None]:
    """DuckDB's errors on the record, as StorageError (a transaction left open is rolled back on detach)."""
    try:
        yield
    except duckdb.Error as exc:
        raise StorageError(f"cannot {what} the record of what was published: {db.one_line(exc)}") from exc


@contextlib.contextmanager
def attached(con: duckdb.DuckDBPyConnection, layout: Layout) -> Iterator[None]:
    """The record attached as ``lake_record`` (created when missing), detached after."""
    target = path(layout)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _wrapped(f"open ({target})"):
            _attach(con, target)
            db.run_sql(con, load("lake/record_tables"))
        yield
    finally:
        for statement in ("ROLLBACK", f"DETACH {ALIAS}"):  # a failed push may have left a transaction
            with contextlib.suppress(duckdb.Error):
                con.execute(statement)


def _attach(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Attach the record; one that is not a readable database is moved aside and made anew (it only
    spares pushes the lake's keys: the next push checks against them and rebuilds it)."""
    try:
        con.execute(f"ATTACH {quote_literal(str(target))} AS {ALIAS}")
    except duckdb.IOException as exc:
        if db.is_lock_error(exc) or not target.exists():
            raise
        move_aside(target)
        con.execute(f"ATTACH {quote_literal(str(target))} AS {ALIAS}")


def settle(con: duckdb.DuckDBPyConnection) -> None:
    """Pushes left in flight by a process that died: committed when the lake has their id, else forgotten."""
    with _wrapped("read"):
        flying = [
            row[0]
            for row in con.execute(f"SELECT push_id FROM {ALIAS}.pushes WHERE NOT committed").fetchall()
        ]
    if not flying:
        return
    try:
        landed = {
            push_id
            for (push_id,) in con.execute(
                "SELECT push_id FROM lake.lake_pushes WHERE list_contains(?, push_id)", [flying]
            ).fetchall()
        }
    except duckdb.Error as exc:
        raise LakeUnreachableError(f"cannot read the lake's pushes: {db.one_line(exc)}") from exc
    lost = [push_id for push_id in flying if push_id not in landed]
    with _wrapped("settle"):
        con.execute("BEGIN")
        con.execute(
            f"UPDATE {ALIAS}.pushes SET committed = true WHERE list_contains(?, push_id)", [list(landed)]
        )
        con.execute(f"DELETE FROM {ALIAS}.published WHERE list_contains(?, push_id)", [lost])
        con.execute(f"DELETE FROM {ALIAS}.pushes WHERE list_contains(?, push_id)", [lost])
        con.execute("COMMIT")


def verified(con: duckdb.DuckDBPyConnection, config: LakeConfig) -> set[str]:
    """The tables whose record is this lake's."""
    with _wrapped("read"):
        rows = con.execute(
            f"SELECT table_name FROM {ALIAS}.verified WHERE lake = ?", [identity(config)]
        ).fetchall()
    return {name for (name,) in rows}


def stage(
    con: duckdb.DuckDBPyConnection, table: LakeTable, pending: str, retention: object, *, by_lake: bool
) -> int:
    """Stage a table's rows to publish into the temporary table ``pending``: those whose key the record
    lacks, or (``by_lake``) the lake lacks. Returns how many. DuckDB's errors are the caller's to wrap
    (the catalog, the lake or the record)."""
    if by_lake:
        name = "lake/stage_quarantine_by_lake" if table.name == "quarantine" else "lake/stage_by_lake"
        con.execute(table.sql(name, "mine", pending=pending), [retention])
    else:
        sql = table.sql("lake/stage_by_record", "mine", pending=pending, record_key=table.record_key("mine"))
        con.execute(sql, [retention, table.name])
    (rows,) = con.execute(f"SELECT count(*) FROM temp.{pending}").fetchone()
    return rows


def record_in_flight(
    con: duckdb.DuckDBPyConnection,
    push_id: str,
    staged: dict[LakeTable, str],
    held: list[LakeTable],
    config: LakeConfig,
    retention: object,
) -> None:
    """In one local transaction: the staged rows' keys recorded under ``push_id``, in flight; for the tables
    staged against the lake (``held``), the root's rows the lake already holds recorded as committed and
    the table marked verified for this lake."""
    with _wrapped("write"):
        con.execute("BEGIN")
        con.execute(f"INSERT INTO {ALIAS}.pushes VALUES (?, false)", [push_id])
        for table, pending in staged.items():
            sql = table.sql(
                "lake/record_in_flight", "mine", pending=pending, record_key=table.record_key("mine")
            )
            con.execute(sql, [table.name, push_id])
        if held:
            con.execute(f"INSERT INTO {ALIAS}.pushes VALUES (?, true)", [f"{push_id}-held"])
        for table in held:
            sql = table.sql("lake/record_held", "mine", record_key=table.record_key("mine"))
            con.execute(sql, [table.name, f"{push_id}-held", retention])
            con.execute(
                f"INSERT OR REPLACE INTO {ALIAS}.verified VALUES (?, ?, now())",
                [table.name, identity(config)],
            )
        con.execute("COMMIT")


def committed(con: duckdb.DuckDBPyConnection, push_id: str) -> None:
    """The push's lake transaction committed (were this lost, the next push would find its id in the lake)."""
    with _wrapped("write"):
        con.execute(f"UPDATE {ALIAS}.pushes SET committed = true WHERE push_id = ?", [push_id])
