"""The disposable HNSW index file (data/_state/vector_index.duckdb), never in the catalog.

Written whole (built in a temporary file, checkpointed, renamed into place) and rebuilt from the
side-store whenever it is missing, unreadable, built for another model or dimension, or stale.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from lakehouse.core import db
from lakehouse.core.errors import CatalogError
from lakehouse.core.files import exclusive_lock, fsync_path
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_literal, render
from lakehouse.retrieval.vectors.store import EXACT_SCAN_BELOW, SideState, dimension, side_state

INDEX_ALIAS = "vector_index"
BuildProgress = Callable[[float | None], None]  # the build's fraction done (None: not known yet)


def rebuild_after(indexed: int) -> int:
    """How many vectors may be stored after a build before the index is rebuilt."""
    return max(256, indexed // 10)


def index_path(layout: Layout) -> Path:
    return layout.state_dir / "vector_index.duckdb"


def remove_index(layout: Layout) -> None:
    for path in (index_path(layout), Path(f"{index_path(layout)}.wal")):
        path.unlink(missing_ok=True)


def build_index(
    layout: Layout, con: duckdb.DuckDBPyConnection, model: str, progress: BuildProgress | None = None
) -> int:
    """Write the HNSW index file from the side-store (read through ``con``); see :func:`write_index`."""
    return write_index(layout, *export_side_store(con, model), model, progress)


def export_side_store(con: duckdb.DuckDBPyConnection, model: str) -> tuple[pa.Table, int | None]:
    """A model's side-store rows (rag_id, seq, vector) as Arrow, and the dimension."""
    return con.execute(load("vectors/export"), {"model": model}).to_arrow_table(), dimension(con)


def write_index(
    layout: Layout, rows: pa.Table, dim: int | None, model: str, progress: BuildProgress | None = None
) -> int:
    """Write the HNSW index file: a temporary file, checkpointed, renamed into place.

    One build at a time per root (a lock file), so that clearing a killed build's leftovers never
    removes a running build's temporary file. Needs no catalog connection (a build takes minutes
    at 100k vectors).
    """
    with exclusive_lock(layout.state_dir / "vector_index.lock", wait=True):
        return _write_index(layout, rows, dim, model, progress)


def _write_index(
    layout: Layout, rows: pa.Table, dim: int | None, model: str, progress: BuildProgress | None
) -> int:
    target = index_path(layout)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp*"):  # left by a build that was killed
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    stamp = pa.table(
        {
            "model": [model],
            "dim": pa.array([dim], pa.int32()),
            "built_seq": pa.array([max(rows["seq"].to_pylist(), default=0)], pa.int64()),
            "vectors": pa.array([rows.num_rows], pa.int64()),
        }
    )
    builder = duckdb.connect(str(tmp))
    try:
        db.load_extension(builder, "vss")
        builder.execute("SET hnsw_enable_experimental_persistence = true")
        builder.register("side_rows", rows)
        builder.register("stamp_row", stamp)
        _watched(builder, render(load("vectors/build_index"), dim=str(dim)), progress)
        builder.execute("CHECKPOINT")
    except duckdb.Error as exc:
        builder.close()
        _unlink_tmp(tmp)
        raise CatalogError(f"cannot build the vector index: {db.one_line(exc)}") from exc
    builder.close()
    Path(f"{tmp}.wal").unlink(missing_ok=True)  # empty after the checkpoint
    os.replace(tmp, target)
    Path(f"{target}.wal").unlink(missing_ok=True)
    fsync_path(target.parent)
    return rows.num_rows


def _watched(con: duckdb.DuckDBPyConnection, sql: str, progress: BuildProgress | None) -> None:
    """Run ``sql``, reporting DuckDB's query progress every 0.2 s from a watching thread."""
    if progress is None:
        con.execute(sql)
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            fraction = con.query_progress()
            progress(fraction / 100 if fraction >= 0 else None)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        con.execute(sql)
    finally:
        done.set()
        watcher.join()
    progress(1.0)


def _unlink_tmp(tmp: Path) -> None:
    for path in (tmp, Path(f"{tmp}.wal")):
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class IndexStamp:
    model: str
    dim: int
    built_seq: int
    vectors: int


class IndexFile:
    """The HNSW index file attached read-only to a private connection (one cursor per thread)."""

    def __init__(self, path: Path) -> None:
        self.con = db.memory()
        try:
            db.load_extension(self.con, "vss")
            self.con.execute(f"ATTACH {quote_literal(path.as_posix())} AS {INDEX_ALIAS} (READ_ONLY)")
            self.stamp = IndexStamp(*self.con.execute(load("vectors/index_stamp")).fetchone())
        except BaseException:
            self.con.close()
            raise
        self._local = threading.local()

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.con.cursor()
        return cursor.execute(
            render(load("vectors/index_search"), query=query, limit=str(int(limit)))
        ).fetchall()

    def close(self) -> None:
        self.con.close()


def index_fits(stamp: IndexStamp, con: duckdb.DuckDBPyConnection, model: str, state: SideState) -> bool:
    """Whether an index file built as ``stamp`` says still answers for the side-store (``state``)."""
    if stamp.model != model or stamp.dim != state.dim or stamp.built_seq > state.last_seq:
        return False
    newer = side_state(con, model, after=stamp.built_seq, dim=state.dim).after
    return newer <= rebuild_after(stamp.vectors)


def ensure_index(layout: Layout, model: str, progress: BuildProgress | None = None) -> int | None:
    """Build the index file when vectors were stored that it does not hold well enough (at add time).

    Returns how many vectors the build indexed; None when no build was needed (the file fits, or
    the side-store is small enough for an exact scan).
    """
    with db.catalog(layout.catalog) as con:
        state = side_state(con, model, after=0)
        if state.vectors < EXACT_SCAN_BELOW:
            return None
        current = index_path(layout)
        if current.exists():
            try:
                index = IndexFile(current)
            except (duckdb.Error, CatalogError, TypeError):
                index = None
            if index is not None:
                try:
                    if index_fits(index.stamp, con, model, state):
                        return None
                finally:
                    index.close()
        rows, dim = export_side_store(con, model)
    return write_index(layout, rows, dim, model, progress)  # the catalog is free meanwhile
