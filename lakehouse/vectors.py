"""Vector retrieval (PRODUCT.md §5, optional): embeddings, the side-store, the disposable HNSW index.

Embeddings come from the gateway's ``POST /v1/embeddings`` (model: ``--embedding-model`` or
``$LH_EMBEDDING_MODEL``; without one, retrieval is BM25 alone). They are stored in the catalog's
``rag_vectors`` table (rag_id, model, dim, content_sha, seq, ``FLOAT[dim]``): the side-store, the
durable truth. Below ``EXACT_SCAN_BELOW`` vectors a query is an exact scan (``array_cosine_distance``).
Above it, a vss HNSW index answers, kept in its own file ``data/_state/vector_index.duckdb`` and never
in the catalog analysts attach: vss persistence is experimental, and a crash can leave its file
unusable (duckdb-vss #65, #81). So that file is only ever written whole (built in a temporary file,
checkpointed, renamed into place) and is rebuilt from the side-store whenever it is missing,
unreadable, built for another model or dimension, or too far behind.

An add never touches the index: it stores vectors in the side-store, and vectors stored after the
index was built (the tail, ``seq`` above the build's) are scanned exactly and merged with the
index's answer, so the next query finds them. Once the tail passes ``rebuild_after`` the next
query rebuilds the index (saves coalesced, not per add). A vector of the wrong dimension, with NaN
or infinite values, or an embedding call that fails, leaves the document without a vector (BM25
still finds it) and is reported with its rag_id; ``lakehouse corpus reindex`` fills such gaps.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from lakehouse import db
from lakehouse.errors import CatalogError, EmbeddingError, UsageError
from lakehouse.files import exclusive_lock, fsync_path
from lakehouse.gateway import Gateway, gateway_url
from lakehouse.paths import Layout
from lakehouse.sqlfiles import load, quote_literal, render

EMBEDDING_ENV = "LH_EMBEDDING_MODEL"
EMBED_BATCH = 64  # texts per /v1/embeddings call
EXACT_SCAN_BELOW = 32  # the original's smallIndexRebuildThreshold: tiny indexes are rebuilt, not patched
QUERY_CACHE = 4096  # query embeddings a searcher keeps
INDEX_ALIAS = "vector_index"
METHODS = ("bm25", "vector", "hybrid")


def embedding_model(option: str | None) -> str | None:
    """``--embedding-model``, else ``$LH_EMBEDDING_MODEL``, else None (vectors off)."""
    return option or os.environ.get(EMBEDDING_ENV) or None


def open_embedder(model_option: str | None, url_option: str | None) -> Embedder | None:
    """An embedder for the configured model (None without one); the caller closes its gateway."""
    model = embedding_model(model_option)
    return Embedder(Gateway(gateway_url(url_option)), model) if model else None


def rebuild_after(indexed: int) -> int:
    """How many vectors may be stored after a build before the index is rebuilt."""
    return max(256, indexed // 10)


def document_text(title: str | None, text: str | None) -> str:
    """What is embedded for a document: its title and text."""
    return f"{title}\n{text}" if title else text or ""


class Embedder:
    """Embeddings of one model from one gateway, with the query embeddings cached."""

    def __init__(self, gateway: Gateway, model: str) -> None:
        self.gateway = gateway
        self.model = model
        self._queries: dict[str, list[float]] = {}

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.gateway.embed(self.model, texts)

    def query(self, text: str) -> list[float]:
        vector = self._queries.get(text)
        if vector is None:
            (vector,) = self.embed([text])
            problem = vector_problem(vector, None)
            if problem:
                raise EmbeddingError(f"query embedding from {self.model}: {problem}")
            if len(self._queries) >= QUERY_CACHE:
                self._queries.clear()
            self._queries[text] = vector
        return vector


def vector_problem(vector: object, dim: int | None) -> str | None:
    """Why a vector cannot be stored (None when it can)."""
    if not isinstance(vector, list) or not vector:
        return "the embedding is not a non-empty list of numbers"
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector):
        return "the embedding holds values that are not numbers"
    if dim is not None and len(vector) != dim:
        return f"wrong dimension {len(vector)} (the side-store holds {dim})"
    if not all(math.isfinite(v) for v in vector):
        return "the embedding holds NaN or infinite values"
    if not any(vector):
        return "the embedding is all zeros (no cosine distance)"
    return None


def vector_literal(vector: list[float], dim: int) -> str:
    """A checked vector as a constant ``FLOAT[dim]`` (HNSW is only used for constant query vectors)."""
    problem = vector_problem(vector, dim)
    if problem:
        raise EmbeddingError(f"query embedding: {problem}")
    return "[" + ", ".join(repr(float(v)) for v in vector) + f"]::FLOAT[{dim}]"


# -- the side-store ------------------------------------------------------------------------------


@dataclass
class EmbedReport:
    stored: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rag_id, reason)

    def messages(self) -> list[str]:
        return [f"{rag_id}: {reason}" for rag_id, reason in self.failed]


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


def embed_documents(
    embedder: Embedder, docs: list[tuple[str, str, str]], dim: int | None, report: EmbedReport
) -> list[dict[str, object]]:
    """Embed (rag_id, content_sha, text) in batches; usable vectors as rows, the rest in ``report.failed``."""
    rows: list[dict[str, object]] = []
    for start in range(0, len(docs), EMBED_BATCH):
        batch = docs[start : start + EMBED_BATCH]
        try:
            vectors = embedder.embed([text for _, _, text in batch])
        except EmbeddingError as exc:
            report.failed.extend((rag_id, str(exc)) for rag_id, _, _ in batch)
            continue
        for (rag_id, sha, _), vector in zip(batch, vectors, strict=True):
            problem = vector_problem(vector, dim)
            if problem:
                report.failed.append((rag_id, problem))
                continue
            dim = dim or len(vector)
            rows.append({"rag_id": rag_id, "model": embedder.model, "content_sha": sha, "vector": vector})
    return rows


def store(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> int:
    """Write vectors to the side-store (in the caller's transaction, if any); replaces older ones."""
    if not rows:
        return 0
    dim = dimension(con) or len(rows[0]["vector"])  # type: ignore[arg-type]
    table = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("rag_id", pa.string()),
                ("model", pa.string()),
                ("content_sha", pa.string()),
                ("vector", pa.list_(pa.float32())),
            ]
        ),
    )
    con.execute(render(load("vectors/schema"), dim=str(dim)))
    con.register("new_vectors", table)
    try:
        con.execute(render(load("vectors/store"), dim=str(dim)))
    finally:
        con.unregister("new_vectors")
    return len(rows)


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


def embed_and_store(
    con: duckdb.DuckDBPyConnection, embedder: Embedder, docs: list[tuple[str, str, str]]
) -> EmbedReport:
    """Embed documents and store their vectors on a connection the caller holds (a session's)."""
    report = EmbedReport()
    rows = embed_documents(embedder, docs, dimension(con), report)
    report.stored = _store_in_transaction(con, rows)
    return report


def embed_into_catalog(layout: Layout, embedder: Embedder, docs: list[tuple[str, str, str]]) -> EmbedReport:
    """Embed documents with no catalog connection open, storing every ``STORE_EVERY`` in a short one.

    Embedding calls can be slow; the catalog is never held while waiting for them.
    """
    report = EmbedReport()
    for start in range(0, len(docs), STORE_EVERY):
        with db.catalog(layout.catalog) as con:
            dim = dimension(con)
        rows = embed_documents(embedder, docs[start : start + STORE_EVERY], dim, report)
        if rows:
            with db.catalog(layout.catalog) as con:
                report.stored += _store_in_transaction(con, rows)
    return report


def embed_added(layout: Layout, embedder: Embedder, rag_ids: Iterable[str]) -> EmbedReport:
    """Embed just-added documents (by rag_id)."""
    wanted = set(rag_ids)
    if not wanted:
        return EmbedReport()
    with db.catalog(layout.catalog) as con:
        docs = [d for d in documents_to_embed(con, embedder.model) if d[0] in wanted]
    return embed_into_catalog(layout, embedder, docs)


def embed_with_configured_model(
    layout: Layout, model_option: str | None, url_option: str | None, rag_ids: list[str]
) -> EmbedReport | None:
    """Embed just-added documents when an embedding model is configured (None when none is)."""
    embedder = open_embedder(model_option, url_option)
    if embedder is None:
        return None
    with embedder.gateway:
        return embed_added(layout, embedder, rag_ids)


@dataclass
class ReindexReport:
    embedded: EmbedReport
    vectors: int
    index_built: bool
    build_s: float


def reindex(layout: Layout, embedder: Embedder) -> ReindexReport:
    """Embed every document lacking a current vector, then rebuild the HNSW index file from the side-store."""
    with db.catalog(layout.catalog) as con:
        missing = documents_to_embed(con, embedder.model)
    report = embed_into_catalog(layout, embedder, missing)
    start = time.perf_counter()
    with db.catalog(layout.catalog) as con:
        state = side_state(con, embedder.model, after=0)
        built = state.vectors >= EXACT_SCAN_BELOW
        rows, dim = export_side_store(con, embedder.model) if built else (None, None)
    if rows is not None:
        write_index(layout, rows, dim, embedder.model)  # the catalog is free meanwhile
    else:
        remove_index(layout)
    return ReindexReport(report, state.vectors, built, time.perf_counter() - start)


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


# -- the HNSW index file ---------------------------------------------------------------------------


def index_path(layout: Layout) -> Path:
    return layout.state_dir / "vector_index.duckdb"


def remove_index(layout: Layout) -> None:
    for path in (index_path(layout), Path(f"{index_path(layout)}.wal")):
        path.unlink(missing_ok=True)


def build_index(layout: Layout, con: duckdb.DuckDBPyConnection, model: str) -> int:
    """Write the HNSW index file from the side-store (read through ``con``); see :func:`write_index`."""
    return write_index(layout, *export_side_store(con, model), model)


def export_side_store(con: duckdb.DuckDBPyConnection, model: str) -> tuple[pa.Table, int | None]:
    """A model's side-store rows (rag_id, seq, vector) as Arrow, and the dimension."""
    return con.execute(load("vectors/export"), {"model": model}).to_arrow_table(), dimension(con)


def write_index(layout: Layout, rows: pa.Table, dim: int | None, model: str) -> int:
    """Write the HNSW index file: a temporary file, checkpointed, renamed into place.

    One build at a time per root (a lock file), so that clearing a killed build's leftovers never
    removes a running build's temporary file. Needs no catalog connection (a build takes minutes
    at 100k vectors).
    """
    with exclusive_lock(layout.state_dir / "vector_index.lock", wait=True):
        return _write_index(layout, rows, dim, model)


def _write_index(layout: Layout, rows: pa.Table, dim: int | None, model: str) -> int:
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
        builder.execute(render(load("vectors/build_index"), dim=str(dim)))
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


class VectorSearch:
    """Vector retrieval for a searcher: query embeddings, exact scans, and the HNSW index file.

    Thread-safe; the index file is opened (or rebuilt) on the first query that needs it and
    replaced when it falls behind. Superseded index files stay attached until :meth:`close`,
    so a query running on one is never cut off.
    """

    def __init__(self, layout: Layout, embedder: Embedder) -> None:
        self.layout = layout
        self.embedder = embedder
        self.warning: str | None = None
        self._index: IndexFile | None = None
        self._retired: list[IndexFile] = []
        self._lock = threading.Lock()
        self._dim: int | None = None  # the side-store's dimension, once it has one

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
        self, con: duckdb.DuckDBPyConnection, vector: list[float], k: int, state: SideState | None = None
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
                build_index(self.layout, con, self.embedder.model)
                opened = self._open_file()
            if self._index is not None:
                self._retired.append(self._index)
            self._index = opened
            return opened

    def _fits(self, stamp: IndexStamp, con: duckdb.DuckDBPyConnection, state: SideState) -> bool:
        if stamp.model != self.embedder.model or stamp.dim != state.dim or stamp.built_seq > state.last_seq:
            return False
        newer = side_state(con, self.embedder.model, after=stamp.built_seq, dim=state.dim).after
        return newer <= rebuild_after(stamp.vectors)

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


# -- fusion ---------------------------------------------------------------------------------------

RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al.): score = sum of 1 / (60 + rank)


def reciprocal_rank_fusion(
    rankings: dict[str, list[str]], k: int
) -> list[tuple[str, float, tuple[str, ...]]]:
    """(rag_id, fused score, methods that found it) of the best k, best first, ties by rag_id."""
    scores: dict[str, float] = {}
    found_by: dict[str, list[str]] = {}
    for method, ranking in rankings.items():
        for rank, rag_id in enumerate(ranking, start=1):
            scores[rag_id] = scores.get(rag_id, 0.0) + 1.0 / (RRF_K + rank)
            found_by.setdefault(rag_id, []).append(method)
    best = sorted(scores, key=lambda r: (-scores[r], r))[:k]
    return [(r, scores[r], tuple(found_by[r])) for r in best]


def check_method(method: str, model: str | None) -> None:
    """A usage error unless ``method`` is known and has the embedding model it needs."""
    if method not in METHODS:
        raise UsageError(f"retrieval method {method!r}: choose one of {', '.join(METHODS)}")
    if method != "bm25" and model is None:
        raise UsageError(
            f"--retrieval {method} needs an embedding model: pass --embedding-model or set ${EMBEDDING_ENV}"
        )
