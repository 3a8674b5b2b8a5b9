"""Ad-hoc SQL, statement by statement: what read-only lets through, decided by DuckDB's own parse.

``lakehouse sql`` without ``--write`` promises that no file and no database is created or changed
anywhere (PRODUCT.md §6). The catalog connection is read-only, but DuckDB would still write files
for ``COPY ... TO``, ``EXPORT DATABASE``, ``ATTACH ... (READ_WRITE)``, ``INSTALL`` or profiling
output. So each statement is classified by DuckDB's parser (``duckdb.extract_statements``):

- SELECT (with SHOW, DESCRIBE, SUMMARIZE, PRAGMA functions, FROM-first) and TRANSACTION run;
- EXPLAIN runs with DuckDB's external access switched off (``EXPLAIN ANALYZE`` executes the
  statement it explains), reading only the root's Parquet parts;
- SET runs, then is refused if DuckDB's ``duckdb_settings()`` shows it changed a global setting or
  pointed a session setting at an output file (``profiling_output`` and the like);
- every other type (COPY, EXPORT, ATTACH, DETACH, INSTALL/LOAD, CALL/CHECKPOINT, CREATE, INSERT,
  UPDATE, DELETE, DROP, ALTER, VACUUM, PREPARE/EXECUTE, ...) is refused before anything runs.

A refusal is a :class:`UsageError` (exit 2) naming the statement.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import UsageError
from lakehouse.core.sqlfiles import load, quote_literal

T = duckdb.StatementType
RUN_READ_ONLY = {T.SELECT, T.TRANSACTION}
SANDBOXED = {T.EXPLAIN}
CHECKED_AFTER = {T.SET}


def split(sql: str) -> list[duckdb.Statement]:
    """The statements of a SQL text, as DuckDB parses them; a syntax error is the user's to fix."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(db.one_line(exc)) from exc
    if not statements:
        raise UsageError("no SQL statement given")
    return statements


def _shown(statement: duckdb.Statement) -> str:
    text = " ".join(statement.query.split())
    return text if len(text) <= 60 else text[:59] + "…"


def refuse_writes(statements: list[duckdb.Statement]) -> None:
    """Raise before anything runs if a statement is of a type that read-only never runs."""
    for statement in statements:
        if statement.type not in RUN_READ_ONLY | SANDBOXED | CHECKED_AFTER:
            raise UsageError(
                f"read-only: {statement.type.name} statements can create or change files or databases, "
                f"so {_shown(statement)} is refused; pass --write to run it"
            )


def _settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute(load("output/settings")).fetchall())


class ReadOnlyRunner:
    """Runs a read-only script's statements on a read-only catalog connection, one at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, readable: Path) -> None:
        self.con = con
        self.readable = readable
        self.sandboxed = False
        # Reading s3:// or https:// would otherwise download and install an extension.
        con.execute("SET autoinstall_known_extensions = false")

    def execute(self, statement: duckdb.Statement, params: object = None) -> duckdb.DuckDBPyConnection | None:
        """Run one statement; its cursor, or None for a SET (which has no rows, and whose check queried the session)."""
        if statement.type in SANDBOXED:
            self._sandbox()
        if statement.type not in CHECKED_AFTER:
            return self.con.execute(statement, params)
        # A sibling cursor sees the database's global settings but not this session's own ones.
        sibling = self.con.cursor()
        try:
            global_before, session_before = _settings(sibling), _settings(self.con)
            self.con.execute(statement, params)
            changed = [k for k, v in _settings(sibling).items() if global_before.get(k) != v]
            outputs = [
                k
                for k, v in _settings(self.con).items()
                if k.endswith("_output") and v and session_before.get(k) != v
            ]
        finally:
            sibling.close()
        if changed or outputs:
            what = f"changes the global setting {', '.join(changed)}" if changed else f"writes {outputs[0]}"
            raise UsageError(f"read-only: {_shown(statement)} {what}; pass --write to run it")
        return None

    def _sandbox(self) -> None:
        """DuckDB's external access off for the rest of the script: only the root's Parquet is readable."""
        if self.sandboxed:
            return
        self.con.execute(f"SET allowed_directories = [{quote_literal(str(self.readable) + '/')}]")
        self.con.execute("SET enable_external_access = false")
        self.sandboxed = True
