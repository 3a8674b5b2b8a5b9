"""Vector search (the index file plus an exact scan of the tail) and its fusion with BM25.

``check_method`` says whether a retrieval method can run with the configured embedding model;
hybrid retrieval's fusion is :mod:`lakehouse.retrieval.vectors.fusion`.
"""

from __future__ import annotations

import math
import operator
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import CatalogError, UsageError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.retrieval.vectors.embed import EMBEDDING_ENV, Embedder, vector_literal
from lakehouse.retrieval.vectors.index_file import (
    IndexFile,
    IndexStamp,
    build_index,
    index_fits,
    index_path,
    remove_index,
)
from lakehouse.retrieval.vectors.store import EXACT_SCAN_BELOW, SideState, exact, side_state

METHODS = ("bm25", "vector", "hybrid")

if TYPE_CHECKING:
    from lakehouse.gateway import Vector


class HeldVectors:
    """A model's side-store vectors held in memory (one float32 buffer a fetch), for exact similarities.

    Hybrid retrieval scores BM25's documents that the nearest-neighbour search did not return by
    their true cosine similarity. Fetching ~20 vectors from the catalog costs ~9 ms (their column
    segments are read whole); from memory, 20 dot products cost ~0.3 ms. Caught up by ``seq``: only
    vectors stored since the last fetch are read. 4 bytes a dimension a document (15 MB at 10,000
    documents of 384 dimensions).
    """

    def __init__(self) -> None:
        self.seq = 0
        self.rows: dict[str, memoryview] = {}
        self.norms: dict[str, float] = {}

    def catch_up(self, con: duckdb.DuckDBPyConnection, model: str, state: SideState) -> None:
        if state.last_seq == self.seq or state.dim is None:
            return
        table = con.execute(load("vectors/held"), {"model": model, "after": self.seq}).to_arrow_table()
        flat = table.column("vector").combine_chunks().flatten()
        values = memoryview(flat.buffers()[1]).cast("f")[flat.offset : flat.offset + len(flat)]
        for i, rag_id in enumerate(table.column("rag_id").to_pylist()):
            self.rows[rag_id] = values[i * state.dim : (i + 1) * state.dim]
            self.norms.pop(rag_id, None)
        self.seq = state.last_seq

    def similarities(self, query: Vector, rag_ids: list[str]) -> list[tuple[str, float]]:
        query_norm = math.sqrt(sum(v * v for v in query))
        found = []
        for rag_id in rag_ids:
            row = self.rows.get(rag_id)
            if row is None or len(row) != len(query):
                continue
            norm = self.norms.get(rag_id) or self.norms.setdefault(rag_id, math.sqrt(sum(v * v for v in row)))
            found.append((rag_id, sum(map(operator.mul, row, query)) / (norm * query_norm)))
        return found


def _to_stderr(message: str) -> None:
    print(f"lakehouse: {message}", file=sys.stderr, flush=True)


class VectorSearch:
    """Vector retrieval for a searcher: query embeddings, exact scans, and the HNSW index file.

    Thread-safe; the index file is opened (or rebuilt) on the first query that needs it and
    replaced when it falls behind. Superseded index files stay attached until :meth:`close`,
    so a query running on one is never cut off.
    """

    def __init__(
        self, layout: Layout, embedder: Embedder, notify: Callable[[str], None] | None = None
    ) -> None:
        self.layout = layout
        self.embedder = embedder
        self.notify = notify or _to_stderr  # says when a query has to wait for an index build
        self.warning: str | None = None
        self._index: IndexFile | None = None
        self._retired: list[IndexFile] = []
        self._lock = threading.Lock()
        self._dim: int | None = None  # the side-store's dimension, once it has one
        self._held = HeldVectors()

    def search(self, con: duckdb.DuckDBPyConnection, query: str, k: int) -> list[tuple[str, float]]:
        """(rag_id, cosine similarity) of the k documents nearest to the query's embedding, best first."""
        try:
            state = side_state(con, self.embedder.model, after=0, dim=self._dim)
            self._dim = state.dim
        except duckdb.Error as exc:
            raise CatalogError(f"vector query failed: {db.one_line(exc)}") from exc
        if state.vectors == 0:
            return []  # nothing to compare with: no embedding call
        return self.nearest(con, self.embedder.query(query), k, state)

    def nearest(
        self, con: duckdb.DuckDBPyConnection, vector: Vector, k: int, state: SideState | None = None
    ) -> list[tuple[str, float]]:
        """(rag_id, cosine similarity) of the k nearest documents to a vector, best first (ties by rag_id)."""
        model = self.embedder.model
        try:
            state = state or side_state(con, model, after=0)
            if not state.vectors:
                return []
            literal = vector_literal(vector, state.dim)
            index = self._usable_index(con, state) if state.vectors >= EXACT_SCAN_BELOW else None
            nearest = exact(con, model, literal, k) if index is None else self._merged(con, index, literal, k)
        except duckdb.Error as exc:
            raise CatalogError(f"vector query failed: {db.one_line(exc)}") from exc
        return [(rag_id, 1.0 - distance) for rag_id, distance in nearest]

    def similarities(
        self, con: duckdb.DuckDBPyConnection, query: str, rag_ids: list[str]
    ) -> list[tuple[str, float]]:
        """(rag_id, cosine similarity) of the query to given documents' stored vectors (those that have one)."""
        if not rag_ids:
            return []
        try:
            state = side_state(con, self.embedder.model, after=0, dim=self._dim)
            with self._lock:
                self._held.catch_up(con, self.embedder.model, state)
                return self._held.similarities(self.embedder.query(query), rag_ids)
        except duckdb.Error as exc:
            raise CatalogError(f"vector query failed: {db.one_line(exc)}") from exc

    def _merged(
        self, con: duckdb.DuckDBPyConnection, index: IndexFile, literal: str, k: int
    ) -> list[tuple[str, float]]:
        """The index's answer with vectors stored since its build: those are scanned exactly and win."""
        built = index.stamp.built_seq
        model = self.embedder.model
        newer = {
            r for (r,) in con.execute(load("vectors/tail_ids"), {"model": model, "after": built}).fetchall()
        }
        # Twice k: equal distances come back from the graph in no particular order; rag_id breaks them.
        # Hits whose document has a newer vector are stale; ask again for more while they crowd out k
        # (asking for k + the whole tail up front cost 10x at 2,000 added vectors: HNSW slows with limit).
        limit = 2 * k
        while True:
            rows = index.search(literal, limit)
            indexed = [(r, d) for r, d in rows if r not in newer]
            if len(indexed) >= 2 * k or len(rows) < limit:
                break
            limit *= 4
        tail = exact(con, model, literal, k, after=built) if newer else []
        return sorted(indexed + tail, key=lambda hit: (hit[1], hit[0]))[:k]

    def _usable_index(self, con: duckdb.DuckDBPyConnection, state: SideState) -> IndexFile | None:
        with self._lock:
            if self._index is not None and self._fits(self._index.stamp, con, state):
                return self._index
            opened = self._open_file()
            if opened is None or not self._fits(opened.stamp, con, state):
                if opened is not None:
                    opened.close()
                self.notify(
                    f"building the vector index ({state.vectors:,} vectors of {self.embedder.model}) "
                    "before answering; 'lakehouse corpus reindex' builds it ahead of queries"
                )
                build_index(self.layout, con, self.embedder.model)
                opened = self._open_file()
            if self._index is not None:
                self._retired.append(self._index)
            self._index = opened
            return opened

    def _fits(self, stamp: IndexStamp, con: duckdb.DuckDBPyConnection, state: SideState) -> bool:
        return index_fits(stamp, con, self.embedder.model, state)

    def _open_file(self) -> IndexFile | None:
        path = index_path(self.layout)
        if not path.exists():
            return None
        try:
            return IndexFile(path)
        except (duckdb.Error, CatalogError, TypeError) as exc:
            self.warning = f"the vector index file was unreadable ({db.one_line(exc)}); rebuilt it"
            remove_index(self.layout)
            return None

    def close(self) -> None:
        for index in [*self._retired, *([self._index] if self._index else [])]:
            index.close()
        self._retired.clear()
        self._index = None


def check_method(method: str, model: str | None) -> None:
    """A usage error unless ``method`` is known and has the embedding model it needs."""
    if method not in METHODS:
        raise UsageError(f"retrieval method {method!r}: choose one of {', '.join(METHODS)}")
    if method != "bm25" and model is None:
        raise UsageError(
            f"--retrieval {method} needs an embedding model: pass --embedding-model or set ${EMBEDDING_ENV}"
        )
