"""DuckDB connections: offline extension loading and error wrapping.

Connections to the catalog are short-lived (PRODUCT.md §6): open, do one thing, close.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb

from lakehouse.core.errors import (
    CatalogDamagedError,
    CatalogError,
    CatalogLockedError,
    LakehouseError,
    StorageError,
    UsageError,
)
from lakehouse.core.sqlfiles import load, quote_literal

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")


def extension_path(name: str) -> Path:
    """The extension binary shipped by the ``duckdb-extension-<name>`` wheel (PRODUCT.md §8)."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or spec.origin is None:
        raise CatalogError(f"duckdb-extension-{name} is not installed (pip install duckdb-extension-{name})")
    folder = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
    binary = folder / f"{name}.duckdb_extension"
    if not binary.exists():
        raise CatalogError(
            f"{binary} missing: duckdb-extension-{name} must match duckdb {duckdb.__version__}"
        )
    return binary


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Install from the wheel's file and load; never touches the network."""
    try:
        con.execute(f"INSTALL '{extension_path(name).as_posix()}'")
        con.execute(f"LOAD {name}")
    except duckdb.Error as exc:
        raise CatalogError(f"could not load DuckDB extension {name}: {one_line(exc)}") from exc


def in_batches(table: pa.Table, rows: int) -> pa.Table:
    """``table`` cut into Arrow batches of at most ``rows``: registered, it is scanned on all of DuckDB's
    threads, a batch at a time (a temporary table of under 122,880 rows is one row group, scanned by
    one thread: a corpus add's tokenizing)."""
    return table.from_batches(table.to_batches(max_chunksize=rows), schema=table.schema)


# Lines of a DuckDB message that tell a user what they meant (a misspelt table, function or column).
_HINTS = ("Did you mean", "Candidate bindings:")


def one_line(exc: BaseException) -> str:
    """DuckDB messages span lines; users get the first, with DuckDB's suggestions (``Did you mean
    "evidence"?``, ``Candidate bindings: "evidence_id", ...``) on the same line."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first, *rest = text.splitlines()
    return " ".join([first, *(line.strip() for line in rest if line.strip().startswith(_HINTS))])


def query_error(exc: Exception) -> LakehouseError:
    """A user's statement failed: theirs to fix (exit 2), unless a server it reads from over HTTP (the
    lake's object store) cannot be reached, refuses it or fails (exit 4), which no corrected statement
    gets past; a refusal says where the keys come from. A missing URL (HTTP 404) stays the user's."""
    text = str(exc)
    status = re.search(r"\bHTTP (\d{3})\b", text)
    over_http = isinstance(exc, duckdb.HTTPException) or (
        isinstance(exc, duckdb.IOException) and "HTTP" in text
    )
    if not over_http or (status is not None and status.group(1) == "404"):
        return UsageError(one_line(exc))
    refused = status is not None and status.group(1) in ("401", "403")
    hint = (
        " (refused: a lake's object store takes its keys from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
        "AWS_SESSION_TOKEN, else from the AWS credential chain)"
        if refused
        else ""
    )
    return StorageError(one_line(exc) + hint)


def memory() -> duckdb.DuckDBPyConnection:
    """A private in-memory connection with the project's settings and macros."""
    con = duckdb.connect(":memory:")
    configure(con)
    con.execute(load("macros"))
    return con


def configure(con: duckdb.DuckDBPyConnection) -> None:
    # TimeZone cannot go in connect()'s config: icu is not loaded yet at that point.
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock on file" in text or "Conflicting lock is held" in text


LOCK_WAIT_S = 3.0  # our own write connections are short: wait this long for one before giving up

# Rows per row group of what our write connections store. DuckDB's default (122,880) makes a
# retrieval query filter a whole row group of postings per query term; 8,192 cut that scan
# from 1.7 to 0.7 ms at 100k documents. The setting is not persisted in the file, so every
# write connection attaches the catalog with it.
ROW_GROUP_SIZE = 8192
CATALOG_ALIAS = "lakehouse"
REPAIR_HINT = "(run 'lakehouse sync' to repair it, or 'lakehouse rebuild' to recreate it)"


def _attach_for_writes(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {quote_literal(str(path))} AS {CATALOG_ALIAS} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        con.execute(f"USE {CATALOG_ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def _connect(path: Path, read_only: bool, lock_wait_s: float) -> duckdb.DuckDBPyConnection:
    return _waiting_for_lock(
        path,
        lock_wait_s,
        lambda: duckdb.connect(str(path), read_only=True) if read_only else _attach_for_writes(path),
    )


def attach_read_only(con: duckdb.DuckDBPyConnection, path: Path, lock_wait_s: float = LOCK_WAIT_S) -> None:
    """Attach the catalog read-only to ``con`` as CATALOG_ALIAS and use it; a writer's lock is waited
    for as :func:`open_catalog` waits (the lake's publisher, whose connection holds the lake)."""
    _waiting_for_lock(
        path,
        lock_wait_s,
        lambda: con.execute(f"ATTACH {quote_literal(str(path))} AS {CATALOG_ALIAS} (READ_ONLY)"),
    )
    con.execute(f"USE {CATALOG_ALIAS}")


def _waiting_for_lock(path: Path, lock_wait_s: float, attempt: Callable[[], T]) -> T:
    deadline = time.monotonic() + lock_wait_s
    pause = 0.02
    while True:
        try:
            return attempt()
        except duckdb.IOException as exc:
            if not is_lock_error(exc):
                raise CatalogDamagedError(
                    f"cannot open catalog {path}: {one_line(exc)} {REPAIR_HINT}"
                ) from exc
            if time.monotonic() + pause > deadline:
                raise CatalogLockedError(f"catalog {path} is locked by another process") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def open_catalog(
    path: Path, *, read_only: bool = False, lock_wait_s: float = LOCK_WAIT_S
) -> duckdb.DuckDBPyConnection:
    """A connection to the catalog file; the caller closes it.

    A lock held by another process is waited for up to ``lock_wait_s`` (another lakehouse
    writer finishes within it; an analyst's open session does not, and raises
    :class:`CatalogLockedError`).
    """
    if read_only and not path.exists():
        raise CatalogError(f"no catalog at {path}: run 'lakehouse sync' or 'lakehouse materialize' first")
    try:
        con = _connect(path, read_only, lock_wait_s)
        configure(con)
        return con
    except duckdb.Error as exc:  # not a database (a lock is CatalogLockedError, raised above)
        raise CatalogDamagedError(f"cannot open catalog {path}: {one_line(exc)} {REPAIR_HINT}") from exc


@contextlib.contextmanager
def catalog(
    path: Path, *, read_only: bool = False, lock_wait_s: float = LOCK_WAIT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to the catalog file (see :func:`open_catalog`), closed on exit."""
    con = open_catalog(path, read_only=read_only, lock_wait_s=lock_wait_s)
    try:
        yield con
    finally:
        con.close()


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
    """Execute, turning DuckDB's errors into ours (a bad statement is the user's to fix)."""
    try:
        return con.execute(sql, params)
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
        raise UsageError(one_line(exc)) from exc
    except duckdb.Error as exc:
        raise CatalogError(one_line(exc)) from exc
