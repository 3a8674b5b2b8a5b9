"""Lake transactions: run again when another host's commit conflicts, errors wrapped where they enter.

DuckLake checks conflicts at commit: appends from many hosts commit together, but an append conflicts
with a delete from the same table committed meanwhile, and two updates of one row never both commit.
:func:`in_turn` retries a conflicting transaction after a pause; with ``turn`` it first updates the one
row of ``lake_lock``, so that prunes and maintenance take turns.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

from lakehouse.core import db, failpoints
from lakehouse.core.errors import CatalogError, StorageError

T = TypeVar("T")
CONFLICT_RETRIES = 20
retried: dict[str, int] = {}  # this process's conflicts retried, by what was done (a publisher reports it)


class LakeUnreachableError(StorageError):
    """The lake's catalog or its object store cannot be reached (exit 4)."""


def in_turn(
    con: duckdb.DuckDBPyConnection, what: str, work: Callable[[], T], *, turn: bool = True
) -> tuple[T, int]:
    """Run ``work`` in one lake transaction, again when another host's commit conflicts with it; with
    ``turn``, the transaction first takes the maintainers' turn (the one row of ``lake_lock``, see
    sql/lake/tables.sql): two such transactions never both commit.

    Returns what ``work`` returned and how many times it was retried.
    """
    for attempt in range(CONFLICT_RETRIES):
        try:
            con.execute("BEGIN")
            if turn:
                con.execute("UPDATE lake.lake_lock SET pushes = pushes + 1")
            result = work()
            failpoints.hit("lake_before_commit")
            con.execute("COMMIT")
            failpoints.hit("lake_after_commit")
            retried[what] = retried.get(what, 0) + attempt
            return result, attempt
        except duckdb.TransactionException as exc:  # another host's commit conflicts: look again
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


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")
