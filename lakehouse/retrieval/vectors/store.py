"""The side-store: vectors in the catalog's rag_vectors table, the durable truth of vector retrieval.

Stored in short write transactions; saved and restored across a catalog repair; scanned exactly
below EXACT_SCAN_BELOW vectors and for the tail added after the index file was built.
"""

from __future__ import annotations

import array
import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from lakehouse.core import db
from lakehouse.core.errors import CatalogError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_literal, render

EXACT_SCAN_BELOW = 32  # the original's smallIndexRebuildThreshold: tiny indexes are rebuilt, not patched


def document_text(title: str | None, text: str | None) -> str:
    """What is embedded for a document: its title and text."""
    return f"{title}\n{text}" if title else text or ""


def dimension(con: duckdb.DuckDBPyConnection) -> int | None:
    """The side-store's dimension (None before the first vector)."""
    row = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE table_name = 'rag_vectors' "
        "AND column_name = 'vector' AND database_name = current_database() AND schema_name = 'main'"
    ).fetchone()
    if row is None:
        return None
    match = re.fullmatch(r"FLOAT\[(\d+)\]", row[0])
    return int(match.group(1)) if match else None


def store(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> int:
    """Write vectors to the side-store (in the caller's transaction, if any); replaces older ones."""
    if not rows:
        return 0
    dim = dimension(con) or len(rows[0]["vector"])  # type: ignore[arg-type]
    table = pa.table(
        {
            "rag_id": pa.array([r["rag_id"] for r in rows], pa.string()),
            "model": pa.array([r["model"] for r in rows], pa.string()),
            "content_sha": pa.array([r["content_sha"] for r in rows], pa.string()),
            "vector": _vector_column([r["vector"] for r in rows]),  # type: ignore[misc]
        }
    )
    con.execute(render(load("vectors/schema"), dim=str(dim)))
    con.register("new_vectors", table)
    try:
        con.execute(render(load("vectors/store"), dim=str(dim)))
    finally:
        con.unregister("new_vectors")
    return len(rows)


def _vector_column(vectors: list[array.array | list[float]]) -> pa.Array:
    """Vectors as an Arrow list column: float32 unpacked from base64 is copied as one buffer."""
    width = len(vectors[0])
    if all(isinstance(v, array.array) and v.typecode == "f" and len(v) == width for v in vectors):
        values = pa.py_buffer(b"".join(v.tobytes() for v in vectors))  # type: ignore[union-attr]
        flat = pa.Array.from_buffers(pa.float32(), width * len(vectors), [None, values])
        return pa.FixedSizeListArray.from_arrays(flat, width)
    return pa.array([list(v) for v in vectors], pa.list_(pa.float32()))


def documents_to_embed(con: duckdb.DuckDBPyConnection, model: str) -> list[tuple[str, str, str]]:
    """(rag_id, content_sha, text) of indexed documents lacking a vector of their current version."""
    has_vectors = dimension(con) is not None
    sql = load("vectors/missing") if has_vectors else load("vectors/all_documents")
    params = {"model": model} if has_vectors else None
    return [
        (r, sha, document_text(title, text)) for r, sha, title, text in con.execute(sql, params).fetchall()
    ]


STORE_EVERY = 1024  # documents embedded between two short write transactions (reindex, adds)


def _store_in_transaction(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> int:
    try:
        con.execute("BEGIN")
        stored = store(con, rows)
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise CatalogError(f"cannot store vectors: {db.one_line(exc)}") from exc
    return stored


@dataclass(frozen=True)
class SideState:
    vectors: int
    last_seq: int
    after: int  # how many were stored after the seq asked about
    dim: int | None


def side_state(con: duckdb.DuckDBPyConnection, model: str, after: int, dim: int | None = None) -> SideState:
    """A model's side-store counts; ``dim``, once known, spares the catalog lookup (it never changes)."""
    dim = dim or dimension(con)
    if dim is None:
        return SideState(0, 0, 0, None)
    vectors, last_seq, newer = con.execute(load("vectors/state"), {"model": model, "after": after}).fetchone()
    return SideState(vectors, last_seq, newer, dim)


def exact(
    con: duckdb.DuckDBPyConnection, model: str, query: str, limit: int, after: int = 0
) -> list[tuple[str, float]]:
    """(rag_id, cosine distance) of the side-store's nearest vectors stored after seq ``after``."""
    sql = render(load("vectors/exact"), query=query, limit=str(int(limit)))
    return con.execute(sql, {"model": model, "after": after}).fetchall()


def save_side_store(layout: Layout) -> Path | None:
    """Before the catalog is dropped (``lakehouse rebuild``): the side-store to a Parquet file.

    Vectors are not derived from the JSONL (they cost gateway calls), so a rebuild carries them
    over. None when there are none, or the old catalog cannot be read (then reindex re-embeds).
    """
    if not layout.catalog.exists():
        return None
    target = layout.state_dir / "rag_vectors.parquet"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with db.catalog(layout.catalog, read_only=True) as con:
            if dimension(con) is None:
                return None
            con.execute(f"COPY rag_vectors TO {quote_literal(tmp.as_posix())} (FORMAT parquet)")
    except (duckdb.Error, CatalogError):
        tmp.unlink(missing_ok=True)
        return None
    os.replace(tmp, target)
    return target


def restore_side_store(layout: Layout, saved: Path) -> int:
    """Load a side-store saved by :func:`save_side_store` into the (new) catalog; remove the file."""
    with db.catalog(layout.catalog) as con:
        try:
            dim, last_seq = con.execute(
                "SELECT any_value(dim), max(seq) FROM read_parquet($path)", {"path": str(saved)}
            ).fetchone()
            if dim is not None:
                con.execute(f"CREATE SEQUENCE IF NOT EXISTS rag_vector_seq START WITH {int(last_seq) + 1}")
                con.execute(render(load("vectors/schema"), dim=str(int(dim))))
                con.execute(render(load("vectors/restore"), dim=str(int(dim))), {"path": str(saved)})
            (count,) = con.execute(
                "SELECT count(*) FROM read_parquet($path)", {"path": str(saved)}
            ).fetchone()
        except duckdb.Error as exc:
            raise CatalogError(
                f"cannot restore the vector side-store from {saved}: {db.one_line(exc)}"
            ) from exc
    saved.unlink()
    return count
