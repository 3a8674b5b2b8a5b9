"""Attaching the lake beside the root's catalog, publishing to it exactly once by key, and its status.

The lake is DuckLake: its catalog in PostgreSQL (many writers, snapshots), its data files on an
S3-API object store, both reached through DuckDB's ducklake, postgres and httpfs extensions
(loaded offline from their wheels). A push runs in one lake transaction that inserts, per table, the
rows whose key the lake lacks and records itself in ``lake_pushes``. DuckLake lets two concurrent
appends to one table both commit (measured: three hosts pushing overlapping roots at once left
duplicates), so each transaction first updates the one row of ``lake_lock``: two such updates
cannot both commit, the loser retries and finds the rows already there, and the same input pushed
from any number of hosts is one row in the lake.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb

from lakehouse.core import db, failpoints, outbox
from lakehouse.core.errors import CatalogError, StorageError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_ident, quote_literal, render
from lakehouse.lake import parts
from lakehouse.lake.config import LakeConfig

TABLES = {  # lake table -> its key
    "evidence": "evidence_id",
    "replay_runs": "recorded_run_id",
    "receipts": "receipt_id",
    "quarantine": "quarantine_id",
    "prices": "price_id",  # a price row is its model and first day: a changed price is a new row
}
PRUNED = {"evidence": "day", "replay_runs": "day"}  # tables `prune` removes days of -> their day column
CONFLICT_RETRIES = 20
T = TypeVar("T")
CONNECT_TIMEOUT_S = 10  # seconds to reach the lake's PostgreSQL before a command gives up on publishing


class LakeUnreachableError(StorageError):
    """The lake's catalog or its object store cannot be reached (exit 4)."""


def _secret(config: LakeConfig) -> str:
    """The S3 secret: keys from the AWS environment variables, else DuckDB's credential chain."""
    options = [f"URL_STYLE {quote_literal(config.s3_url_style)}"]
    if config.region:
        options.append(f"REGION {quote_literal(config.region)}")
    if config.endpoint:
        host, tls = config.endpoint
        options += [f"ENDPOINT {quote_literal(host)}", f"USE_SSL {str(tls).lower()}"]
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        options += [
            f"KEY_ID {quote_literal(os.environ['AWS_ACCESS_KEY_ID'])}",
            f"SECRET {quote_literal(os.environ.get('AWS_SECRET_ACCESS_KEY', ''))}",
        ]
        if os.environ.get("AWS_SESSION_TOKEN"):
            options.append(f"SESSION_TOKEN {quote_literal(os.environ['AWS_SESSION_TOKEN'])}")
    else:
        options[:0] = [
            "PROVIDER credential_chain",
            "VALIDATION 'none'",
        ]  # no keys anywhere: S3 says so when used
    return f"CREATE OR REPLACE TEMPORARY SECRET lake_s3 (TYPE s3, {', '.join(options)})"


def _extensions(config: LakeConfig) -> list[str]:
    """What the lake needs loaded (each ~0.1 s a connection): httpfs for S3, aws only for the credential chain."""
    if not config.data.startswith("s3://"):
        return ["ducklake", "postgres"]
    return ["ducklake", "postgres", "httpfs", *([] if os.environ.get("AWS_ACCESS_KEY_ID") else ["aws"])]


def attach(con: duckdb.DuckDBPyConnection, config: LakeConfig, *, read_only: bool = False) -> None:
    """Attach the lake as ``lake`` to a connection; a lake that cannot be reached is a LakeUnreachableError."""
    for name in _extensions(config):
        db.load_extension(con, name)
    try:
        if config.data.startswith("s3://"):
            con.execute(_secret(config))
        mode = ", READ_ONLY" if read_only else ""
        catalog = config.catalog
        if "connect_timeout" not in catalog:  # libpq waits forever for a host that drops packets
            catalog += f" connect_timeout={CONNECT_TIMEOUT_S}"
        con.execute(
            f"ATTACH {quote_literal('ducklake:' + catalog)} AS lake "
            f"(DATA_PATH {quote_literal(config.data_path)}{mode})"
        )
    except duckdb.Error as exc:
        raise LakeUnreachableError(f"cannot reach the lake ({config.catalog}): {db.one_line(exc)}") from exc


@contextlib.contextmanager
def session(
    layout: Layout, config: LakeConfig, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The lake attached as ``lake`` and the root's catalog read-only as the default database.

    An in-memory connection attaches both: DuckLake attaches read-only (and will not create a
    lake) from a connection whose main database is a read-only file.
    """
    if not layout.catalog.exists():
        raise CatalogError(
            f"no catalog at {layout.catalog}: run 'lakehouse sync' or 'lakehouse materialize' first"
        )
    con = db.memory()
    try:
        attach(con, config, read_only=read_only)
        try:
            con.execute(f"ATTACH {quote_literal(str(layout.catalog))} AS {db.CATALOG_ALIAS} (READ_ONLY)")
            con.execute(f"USE {db.CATALOG_ALIAS}")
        except duckdb.Error as exc:
            raise CatalogError(f"cannot open catalog {layout.catalog}: {db.one_line(exc)}") from exc
        yield con
    finally:
        # Detached before closing: the ducklake/postgres extensions keep the instance alive past
        # close(), and a catalog left attached to it blocks this process's next catalog connection.
        for alias in (db.CATALOG_ALIAS, "lake"):
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DETACH {alias}")
        con.close()


@contextlib.contextmanager
def reading(layout: Layout, config: LakeConfig) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only session whose default database is the lake (the root's catalog stays attached)."""
    with session(layout, config, read_only=True) as con:
        con.execute("USE lake")
        yield con


def create_tables(layout: Layout, config: LakeConfig) -> None:
    with session(layout, config) as con:
        create_tables_in(con)


def create_tables_in(con: duckdb.DuckDBPyConnection) -> None:
    """The lake's tables when missing (hosts joining at once conflict: the loser looks again)."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            con.execute(load("lake/tables"))
            _create_views(con)
            return
        except duckdb.TransactionException as exc:
            if attempt == CONFLICT_RETRIES - 1:
                raise CatalogError(f"cannot create the lake's tables: {db.one_line(exc)}") from exc
            time.sleep(0.05 * (attempt + 1))
        except duckdb.Error as exc:
            raise LakeUnreachableError(f"cannot create the lake's tables: {db.one_line(exc)}") from exc


def _create_views(con: duckdb.DuckDBPyConnection) -> None:
    """The catalog's views in the lake, over its tables (replay_calls, escalations, spans, llm_spans with
    the conventions' macros), when missing: created once, since every creation is a schema change other
    hosts' transactions would conflict with."""
    (present,) = con.execute(load("lake/views_present")).fetchone()
    if present:
        return
    (database,) = con.execute("SELECT current_database()").fetchone()
    con.execute("USE lake")
    try:
        for name in (
            "schema/prices",
            "schema/replay_views",
            "otel/conventions",
            "schema/otel_views",
            "schema/cost_views",
        ):
            db.run_sql(con, load(name))
    finally:
        con.execute(f"USE {quote_ident(database)}")


@dataclass
class PushReport:
    published: dict[str, int] = field(default_factory=dict)
    retries: int = 0


def push(layout: Layout, config: LakeConfig, tables: set[str] | None = None) -> PushReport:
    """Publish every row of this root the lake lacks (idempotent; safe from many hosts at once).

    ``tables``: only these (what the outbox says is owed, e.g. just ``replay_runs`` after replays,
    which spares the scan of the lake's evidence keys); None: every table.
    """
    report = PushReport()
    host = host_of(layout)
    owed = outbox.pending(layout)  # listed first: a commit marked during the push waits for the next one
    with session(layout, config) as con:
        create_tables_in(con)
        report.published, report.retries = in_turn(
            con, "publish to the lake", lambda: _publish(con, config, host, tables)
        )
    outbox.clear_covered(owed, tables)
    return report


def host_of(layout: Layout) -> str:
    """Who publishes or prunes, as the lake's bookkeeping tables record it: host name and root."""
    return f"{socket.gethostname()}:{layout.root}"


def in_turn(con: duckdb.DuckDBPyConnection, what: str, work: Callable[[], T]) -> tuple[T, int]:
    """Run ``work`` in one lake transaction that first takes the publishers' turn (the one row of
    ``lake_lock``, see sql/lake/tables.sql), again when another host committed first.

    Returns what ``work`` returned and how many times it was retried.
    """
    for attempt in range(CONFLICT_RETRIES):
        try:
            con.execute("BEGIN")
            con.execute("UPDATE lake.lake_lock SET pushes = pushes + 1")
            result = work()
            failpoints.hit("lake_before_commit")
            con.execute("COMMIT")
            failpoints.hit("lake_after_commit")
            return result, attempt
        except duckdb.TransactionException as exc:  # another host committed first: look again
            rollback(con)
            if attempt == CONFLICT_RETRIES - 1:
                raise CatalogError(f"cannot {what}: {db.one_line(exc)}") from exc
            time.sleep(0.05 * (attempt + 1))
        except duckdb.Error as exc:
            rollback(con)
            raise LakeUnreachableError(f"cannot {what}: {db.one_line(exc)}") from exc
        except BaseException:
            rollback(con)
            raise
    raise AssertionError("unreachable")


def _publish(
    con: duckdb.DuckDBPyConnection, config: LakeConfig, host: str, tables: set[str] | None
) -> dict[str, int]:
    """The tables, inside the push's turn: evidence as Parquet parts written by pyarrow, the other
    tables inserted, quarantine resolutions set."""
    published = {}
    for table, key in TABLES.items():
        if tables is not None and table not in tables:
            continue
        if table == "evidence":
            published[table] = parts.publish_evidence(con, config, host)
        else:
            sql = render(load("lake/publish"), table=table, key=key, kept=_kept(table))
            (published[table],) = con.execute(sql).fetchone()
    if tables is None or "quarantine" in tables:
        con.execute(load("lake/resolve_quarantine"))
    con.execute("INSERT INTO lake.lake_pushes VALUES (?, now(), ?)", [host, sum(published.values())])
    return published


def _kept(table: str) -> str:
    """The expression a row's day is compared with the lake's retention by (a constant for unpruned tables)."""
    return f"mine.{quote_ident(PRUNED[table])}" if table in PRUNED else "DATE '9999-12-31'"


def status(layout: Layout, config: LakeConfig) -> list[dict[str, object]]:
    """Per table: rows in the lake, rows of this root, and rows of this root the lake lacks."""
    with session(layout, config, read_only=True) as con:
        rows = []
        held = {name for (name,) in run(con, load("lake/tables_present"), "read the lake").fetchall()}
        for table, key in TABLES.items():
            if table not in held:  # a lake made by an older version lacks it until the next push makes it
                (local,) = run(con, f"SELECT count(*) FROM {quote_ident(table)}", "read the root").fetchone()
                rows.append({"table": table, "in_lake": 0, "local": local, "not_in_lake": local})
                continue
            sql = render(load("lake/status"), table=table, key=key, kept=_kept(table))
            name, in_lake, local, missing = run(con, sql, "read the lake").fetchone()
            rows.append({"table": name, "in_lake": in_lake, "local": local, "not_in_lake": missing})
        return rows


def run(con: duckdb.DuckDBPyConnection, sql: str, what: str) -> duckdb.DuckDBPyConnection:
    try:
        return con.execute(sql)
    except duckdb.Error as exc:
        raise LakeUnreachableError(f"cannot {what}: {db.one_line(exc)}") from exc


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")
