"""Attaching the lake beside the root's catalog, publishing to it exactly once by key, and its status.

The lake is DuckLake: its catalog in PostgreSQL (many writers, snapshots), its data files on an
S3-API object store, both reached through DuckDB's ducklake, postgres and httpfs extensions
(loaded offline from their wheels). A push copies the rows this root has not published yet out of its
catalog (found in the root's record of what it published, lake/record.py, not in the lake: a push reads
none of the lake's keys, however large the lake), detaches the catalog, then appends them in one lake
transaction that records itself in ``lake_pushes``. Hosts do not take turns: DuckLake lets appends to
one table from any number of hosts commit at once, so the lake's commits/s grows with its hosts. The
price is that two hosts pushing one key both append it; analysts read through views that keep one row
a key, and maintenance deletes the others (lake/schema.py). Prunes and maintenance, which delete, still
take turns (:func:`in_turn`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from lakehouse.core import db, outbox
from lakehouse.core.errors import CatalogError, CatalogLockedError
from lakehouse.core.files import exclusive_lock
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_ident, quote_literal
from lakehouse.lake import parts, record
from lakehouse.lake.config import LakeConfig
from lakehouse.lake.schema import TABLES, LakeTable, create_tables_in, tables_complete
from lakehouse.lake.transact import LakeUnreachableError, in_turn

INIT_RETRIES = 5
PUSH = "publish to the lake"
CONNECT_TIMEOUT_S = 10  # seconds to reach the lake's PostgreSQL before a command gives up on publishing
PUSH_LOCK_WAIT_S = 60.0  # one push of a root at a time: another's waits this long, then warns
# How long a publisher trusts the lake's retention day it read: rows of days a prune cut meanwhile may
# still be published by it, hidden from analysts by the lake's views and deleted by its maintenance.
RETENTION_TTL_S = 60.0


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
        # a writer's small appends go into the lake's PostgreSQL catalog, not one small file each
        mode = ", READ_ONLY" if read_only else f", DATA_INLINING_ROW_LIMIT {parts.INLINE_ROWS}"
        catalog = config.catalog
        if "connect_timeout" not in catalog:  # libpq waits forever for a host that drops packets
            catalog += f" connect_timeout={CONNECT_TIMEOUT_S}"
        sql = f"ATTACH {quote_literal('ducklake:' + catalog)} AS lake (DATA_PATH {quote_literal(config.data_path)}{mode})"
        for attempt in range(INIT_RETRIES):
            try:
                con.execute(sql)
                break
            except duckdb.Error as exc:
                # Hosts joining a new lake at once all create its metadata tables; PostgreSQL lets one
                # do it and refuses the others (measured: 16 `lake init` at once), which then find it made.
                racing = "Failed to initialize DuckLake" in str(exc) and (
                    "duplicate key value" in str(exc) or "already exists" in str(exc)
                )
                if attempt == INIT_RETRIES - 1 or not racing:
                    raise
                time.sleep(0.2 * (attempt + 1))
    except duckdb.Error as exc:
        raise LakeUnreachableError(f"cannot reach the lake ({config.catalog}): {db.one_line(exc)}") from exc


class KeptLake:
    """A connection with the lake attached that a long-running publisher keeps between its pushes: each
    push then attaches only the root's catalog, for its own duration (held, it would keep the root's
    writers out), and loads no extension and attaches no lake again (~0.4 s a push). Dropped after an
    error, and made again by the next push."""

    def __init__(self, config: LakeConfig) -> None:
        self.config = config
        self.con: duckdb.DuckDBPyConnection | None = None
        self.tables_checked = False  # the lake's tables found complete once: not listed again each push
        self.retention: tuple[object, float] | None = None  # the lake's retention day, and when it was read

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            con = db.memory()
            try:
                attach(con, self.config)
            except BaseException:
                con.close()
                raise
            self.con = con
        return self.con

    def open(self) -> None:
        """Connect now (extensions loaded, the lake attached, its tables checked), so that a publisher pays
        this when it starts rather than at the first commit it publishes (~0.5-1 s of CPU)."""
        con = self.connection()
        try:
            self.tables_checked = tables_complete(con)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.con is not None:
            _close(self.con)
            self.con = None
        self.tables_checked = False
        self.retention = None

    def retention_day(self, con: duckdb.DuckDBPyConnection) -> object:
        """The lake's retention day, read again once it is RETENTION_TTL_S old (a lake read costs a push
        more than anything else it reads: ~20 ms of DuckLake's metadata work, measured)."""
        if self.retention is None or time.monotonic() - self.retention[1] > RETENTION_TTL_S:
            self.retention = (retention_day(con), time.monotonic())
        return self.retention[0]


@contextlib.contextmanager
def session(
    layout: Layout,
    config: LakeConfig,
    *,
    read_only: bool = False,
    with_catalog: bool = True,
    kept: KeptLake | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The lake attached as ``lake`` and the root's catalog read-only as the default database.

    An in-memory connection attaches both: DuckLake attaches read-only (and will not create a
    lake) from a connection whose main database is a read-only file. Without ``with_catalog`` (work on
    the lake alone, e.g. maintenance) the catalog stays free for the root's writers meanwhile. With
    ``kept``, on that connection (the catalog detached again after).
    """
    if with_catalog:
        _require_catalog(layout)
    if kept is not None:
        con = kept.connection()
    else:
        con = db.memory()
        try:
            attach(con, config, read_only=read_only)
        except BaseException:
            _close(con)
            raise
    attached = done = spare = False
    try:
        if with_catalog:
            _attach_catalog(con, layout)
            attached = True
        yield con
        done = True
    except CatalogLockedError:
        spare = True  # the catalog could not be attached (a writer held it too long): nothing changed
        raise
    finally:
        if kept is None:
            _close(con)
        elif attached:
            _detach_catalog(kept, con, clean=done)
        elif not done and not spare:
            kept.close()
        # else: the kept lake is as it was, kept for the next push (reconnecting costs the extensions'
        # load and the lake's attach)


def _require_catalog(layout: Layout) -> None:
    if not layout.catalog.exists():
        raise CatalogError(
            f"no catalog at {layout.catalog}: run 'lakehouse sync' or 'lakehouse materialize' first"
        )


def _attach_catalog(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """The root's catalog attached read-only as the default database; a writer of the root holds it for
    a moment: waited for, as the root's writers wait (CatalogLockedError past the wait)."""
    try:
        db.attach_read_only(con, layout.catalog)
    except duckdb.Error as exc:
        raise CatalogError(f"cannot open catalog {layout.catalog}: {db.one_line(exc)}") from exc


def _detach(con: duckdb.DuckDBPyConnection) -> None:
    """The root's catalog detached (left attached, it would keep the root's writers out); DuckDB's error
    is the caller's to handle."""
    con.execute("USE memory")
    con.execute(f"DETACH {db.CATALOG_ALIAS}")


def _detach_catalog(kept: KeptLake, con: duckdb.DuckDBPyConnection, *, clean: bool) -> None:
    """The root's catalog detached from a kept connection after a push; the connection closed instead
    when the push failed (its state unknown) or the catalog will not detach (left attached, it would
    keep the root's writers out)."""
    if not clean:
        kept.close()
        return
    try:
        _detach(con)
    except duckdb.Error:
        kept.close()


def _close(con: duckdb.DuckDBPyConnection) -> None:
    # Detached before closing: the ducklake/postgres extensions keep the instance alive past
    # close(), and a catalog left attached to it blocks this process's next catalog connection.
    with contextlib.suppress(duckdb.Error):  # a transaction with work on the catalog would refuse the DETACH
        con.execute("ROLLBACK")
    for alias in (db.CATALOG_ALIAS, record.ALIAS, "lake"):
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


@dataclass
class PushReport:
    published: dict[str, int] = field(default_factory=dict)
    retries: int = 0


def push(
    layout: Layout,
    config: LakeConfig,
    tables: set[str] | None = None,
    owed: list[outbox.Marker] | None = None,
    kept: KeptLake | None = None,
    *,
    verify: bool = False,
) -> PushReport:
    """Publish every row of this root the lake lacks (idempotent; safe from many hosts at once).

    The rows are found in the root's record of what it published (lake/record.py), copied out of the
    catalog, and the catalog detached before the lake is written to (the root's writers wait only for
    the copy). ``verify`` (and any table the record does not know for this lake): found against the
    lake's keys instead, and the record rebuilt. ``tables``: only these (what the outbox says is owed,
    e.g. just ``replay_runs`` after replays); None: every table. ``owed``: the markers the caller listed
    before it mirrored the catalog (else listed now); those the push covers are cleared. ``kept``: the
    lake connection a long-running publisher keeps.
    """
    report = PushReport()
    host = host_of(layout)
    if owed is None:  # listed first: a commit marked during the push waits for the next one
        owed = outbox.pending(layout)
    chosen = [table for table in TABLES if tables is None or table.name in tables]
    with (
        exclusive_lock(record.lock(layout), wait=True, timeout=PUSH_LOCK_WAIT_S),
        session(layout, config, kept=kept, with_catalog=False) as con,
        record.attached(con, layout),
    ):
        push_id = uuid.uuid4().hex
        try:
            staged = _stage(con, layout, config, kept, chosen, push_id, verify=verify)
            report.published = {table.name: rows for table, rows in staged.items()}
            if any(staged.values()):  # else nothing to commit: the lake is not written to
                _, report.retries = in_turn(
                    con, PUSH, lambda: _publish(con, config, host, staged, push_id), turn=False
                )
                record.committed(con, push_id)
        finally:
            with contextlib.suppress(duckdb.Error):  # a connection the failure broke is closed anyway
                for table in chosen:
                    con.execute(f"DROP TABLE IF EXISTS temp.{_pending(table)}")
    outbox.clear_covered(owed, tables)
    return report


def retention_day(con: duckdb.DuckDBPyConnection) -> object:
    """Rows of a day before this were pruned from the lake and are not published again."""
    return run(con, load("lake/retention_day"), "read the lake").fetchone()[0]


def _pending(table: LakeTable) -> str:
    return f"pending_{table.name}"


def _stage(
    con: duckdb.DuckDBPyConnection,
    layout: Layout,
    config: LakeConfig,
    kept: KeptLake | None,
    chosen: list[LakeTable],
    push_id: str,
    *,
    verify: bool,
) -> dict[LakeTable, int]:
    """With the root's catalog attached for this step only: each table's rows to publish copied into
    ``pending_<table>``, their keys recorded in flight under ``push_id``. Returns the rows staged a table."""
    _require_catalog(layout)
    _attach_catalog(con, layout)
    try:
        if kept is None or not kept.tables_checked:
            create_tables_in(con)
        if kept is not None:
            kept.tables_checked = True
        record.settle(con)
        retention = kept.retention_day(con) if kept is not None else retention_day(con)
        trusted = set() if verify else record.verified(con, config)
        staged = {}
        for table in chosen:
            try:
                staged[table] = record.stage(
                    con, table, _pending(table), retention, by_lake=table.name not in trusted
                )
            except duckdb.Error as exc:
                raise LakeUnreachableError(
                    f"cannot stage the rows of {table.name}: {db.one_line(exc)}"
                ) from exc
        by_lake = [table for table in chosen if table.name not in trusted]
        pending = {table: _pending(table) for table, rows in staged.items() if rows}
        record.record_in_flight(con, push_id, pending, by_lake, config, retention)
        return staged
    finally:
        try:
            _detach(con)
        except duckdb.Error as exc:  # the session then closes the connection
            raise CatalogError(f"cannot detach catalog {layout.catalog}: {db.one_line(exc)}") from exc


def host_of(layout: Layout) -> str:
    """Who publishes or prunes, as the lake's bookkeeping tables record it: host name and root."""
    return f"{socket.gethostname()}:{layout.root}"


def _publish(
    con: duckdb.DuckDBPyConnection, config: LakeConfig, host: str, staged: dict[LakeTable, int], push_id: str
) -> None:
    """The staged rows, inside the push's transaction: evidence past ``parts.INLINE_ROWS`` rows as Parquet
    parts written by pyarrow, the rest appended (inlined in the lake's catalog up to that many rows a
    table); the push recorded in ``lake_pushes`` under its id."""
    for table, rows in staged.items():
        if not rows:
            continue
        if table.name == "evidence" and rows > parts.INLINE_ROWS:
            parts.publish_evidence(con, config, host, _pending(table))
        else:
            con.execute(table.sql("lake/append_staged", "mine", pending=_pending(table)))
    con.execute(
        "INSERT INTO lake.lake_pushes (host, pushed_at, rows, push_id) VALUES (?, now(), ?, ?)",
        [host, sum(staged.values()), push_id],
    )


def status(layout: Layout, config: LakeConfig) -> list[dict[str, object]]:
    """Per table: rows in the lake (one a key, as analysts see them), rows of this root, and rows of
    this root the lake lacks."""
    with session(layout, config, read_only=True) as con:
        rows = []
        held = {name for name, _ in run(con, load("lake/objects_present"), "read the lake").fetchall()}
        for table in TABLES:
            # a lake made by an older version holds its rows in a table of the view's name until a push adopts it
            appended = table.appended if table.appended in held else table.name
            if appended not in held:  # nor has any table of this name yet
                sql = f"SELECT count(*) FROM {quote_ident(table.name)}"
                (local,) = run(con, sql, "read the root").fetchone()
                rows.append({"table": table.name, "in_lake": 0, "local": local, "not_in_lake": local})
                continue
            sql = table.sql("lake/status", "mine", appended=quote_ident(appended))
            in_lake, local, missing = run(con, sql, "read the lake").fetchone()
            rows.append({"table": table.name, "in_lake": in_lake, "local": local, "not_in_lake": missing})
        return rows


def run(
    con: duckdb.DuckDBPyConnection, sql: str, what: str, params: list[object] | None = None
) -> duckdb.DuckDBPyConnection:
    try:
        return con.execute(sql, params)
    except duckdb.Error as exc:
        raise LakeUnreachableError(f"cannot {what}: {db.one_line(exc)}") from exc
