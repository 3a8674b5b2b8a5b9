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

An add stores vectors in the side-store, and vectors stored after the index was built (the tail,
``seq`` above the build's) are scanned exactly and merged with the index's answer, so the next
query finds them. Once the tail passes ``rebuild_after``, the command that stored them (``corpus
add``, materialize, ``reindex``) rebuilds the index file before it returns, with a progress bar on a
terminal; a searcher that still finds it missing or stale builds it and says so on stderr. A vector of the wrong dimension, with NaN
or infinite values, or an embedding call that fails, leaves the document without a vector (BM25
still finds it) and is reported with its rag_id; ``lakehouse corpus reindex`` fills such gaps.
"""

from __future__ import annotations

import array
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import EmbeddingError
from lakehouse.core.paths import Layout
from lakehouse.retrieval.vectors.index_file import (
    BuildProgress,
    ensure_index,
    export_side_store,
    remove_index,
    write_index,
)
from lakehouse.retrieval.vectors.store import (
    EXACT_SCAN_BELOW,
    STORE_EVERY,
    _store_in_transaction,
    dimension,
    documents_to_embed,
    side_state,
)

if TYPE_CHECKING:  # the gateway (httpx) is imported when an embedder is opened
    from lakehouse.gateway import Gateway, Vector

EMBEDDING_ENV = "LH_EMBEDDING_MODEL"
EMBED_BATCH = 64  # texts per /v1/embeddings call
QUERY_CACHE = 4096  # query embeddings a searcher keeps


def embedding_model(option: str | None) -> str | None:
    """``--embedding-model``, else ``$LH_EMBEDDING_MODEL``, else None (vectors off)."""
    return option or os.environ.get(EMBEDDING_ENV) or None


def open_embedder(model_option: str | None, url_option: str | None) -> Embedder | None:
    """An embedder for the configured model (None without one); the caller closes its gateway."""
    model = embedding_model(model_option)
    if not model:
        return None
    from lakehouse.gateway import Gateway, gateway_url  # here: a run without embeddings never imports httpx

    return Embedder(Gateway(gateway_url(url_option)), model)


class Embedder:
    """Embeddings of one model from one gateway, with the query embeddings cached."""

    def __init__(self, gateway: Gateway, model: str) -> None:
        self.gateway = gateway
        self.model = model
        self._queries: dict[str, Vector] = {}

    def embed(self, texts: list[str]) -> list[Vector]:
        return self.gateway.embed(self.model, texts)

    def query(self, text: str) -> Vector:
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
    if isinstance(vector, array.array):  # unpacked from base64: float32 by construction
        if not vector:
            return "the embedding is empty"
    elif not isinstance(vector, list) or not vector:
        return "the embedding is not a non-empty list of numbers"
    elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector):
        return "the embedding holds values that are not numbers"
    if dim is not None and len(vector) != dim:
        return f"wrong dimension {len(vector)} (the side-store holds {dim})"
    if not all(math.isfinite(v) for v in vector):
        return "the embedding holds NaN or infinite values"
    if not any(vector):
        return "the embedding is all zeros (no cosine distance)"
    return None


def vector_literal(vector: Vector, dim: int) -> str:
    """A checked vector as a constant ``FLOAT[dim]`` (HNSW is only used for constant query vectors).

    One string cast, not a list of number literals: DuckDB binds 384 number literals in ~8 ms and
    parses the string in under 1 ms (and directly to float32, with no detour through DECIMAL).
    """
    problem = vector_problem(vector, dim)
    if problem:
        raise EmbeddingError(f"query embedding: {problem}")
    return "'[" + ", ".join(repr(float(v)) for v in vector) + f"]'::FLOAT[{dim}]"


@dataclass
class EmbedReport:
    stored: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (rag_id, reason)
    index_built: int | None = None  # vectors in the HNSW index file built after storing (None: no build)

    def messages(self) -> list[str]:
        return [f"{rag_id}: {reason}" for rag_id, reason in self.failed]


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
    layout: Layout,
    model_option: str | None,
    url_option: str | None,
    rag_ids: list[str],
    index_progress: BuildProgress | None = None,
) -> EmbedReport | None:
    """Embed just-added documents when an embedding model is configured (None when none is), then
    build the HNSW index file if what was stored outgrew it, so that no query waits for a build."""
    embedder = open_embedder(model_option, url_option)
    if embedder is None:
        return None
    with embedder.gateway:
        report = embed_added(layout, embedder, rag_ids)
    if report.stored:
        report.index_built = ensure_index(layout, embedder.model, index_progress)
    return report


@dataclass
class ReindexReport:
    embedded: EmbedReport
    vectors: int
    index_built: bool
    build_s: float


def reindex(layout: Layout, embedder: Embedder, progress: BuildProgress | None = None) -> ReindexReport:
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
        write_index(layout, rows, dim, embedder.model, progress)  # the catalog is free meanwhile
    else:
        remove_index(layout)
    return ReindexReport(report, state.vectors, built, time.perf_counter() - start)
