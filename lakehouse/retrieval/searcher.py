"""The long-lived searcher: one catalog connection for many queries from many threads.

Queries that queue up while others run are scored together by one statement
(``scoring.ranked_many``); adds from a writable searcher are coalesced into one transaction and
indexed from Python-built rows (``index.append_new_documents``). Vector and hybrid searches go
through :mod:`lakehouse.retrieval.vectors`.
"""

from __future__ import annotations

import os
import threading
import time

import duckdb

from lakehouse.core import db
from lakehouse.core.coalesce import Coalescer
from lakehouse.core.errors import CatalogError, CatalogLockedError, UsageError
from lakehouse.core.files import exclusive_lock
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.core.types import Document, Hit
from lakehouse.retrieval import corpus, scoring, vectors
from lakehouse.retrieval.index import (
    IndexView,
    append_new_documents,
    index_and_record,
    is_current,
    prepare,
    query_terms,
    refresh,
)

TEXT_CACHE_DOCS = 10_000  # a searcher keeps the title and text of up to this many retrieved documents
HYBRID_DEPTH = 20  # hybrid retrieval fuses each method's top max(k, this)


class Searcher:
    """A connection to the catalog's index for many queries from many threads.

    Read-only by default (an analyst can still attach the catalog): the index is refreshed
    first when it is behind. ``writable=True`` holds a write connection for the searcher's
    life, so that :meth:`add` can index documents that the very next query finds; concurrent
    adds are coalesced into one transaction. When another process holds the catalog, either
    kind searches an in-memory index of the corpus file instead (with a warning).

    With an ``embedder``, :meth:`retrieve` also does vector and hybrid retrieval
    (:mod:`lakehouse.vectors`), and :meth:`add` embeds what it adds.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        writable: bool = False,
        query_threads: int | None = None,
        embedder: vectors.Embedder | None = None,
        catch_up: bool = True,
    ) -> None:
        """``catch_up=False`` (a read-only command): a catalog whose index is missing or behind the corpus
        file is left as it is, and an in-memory index of the corpus file is searched instead."""
        self.layout = layout
        self.writable = writable
        self.catch_up = catch_up
        self.query_threads = query_threads
        self.warning: str | None = None
        self.corpus = corpus.CorpusReader(layout.rag_corpus)
        self.in_memory = False
        self.con = self._open()
        if query_threads:
            self.con.execute(f"SET threads = {int(query_threads)}")
        self._local = threading.local()
        self._view: IndexView | None = None
        self._view_lock = threading.Lock()
        self._texts: dict[str, tuple[str, str, str]] = {}
        self._adds: Coalescer[tuple[list[Document], corpus.AddReport], None] = Coalescer(self._index_added)
        self._commits = 0  # odd while an add is being indexed; see _rank_queued()
        # More queries in flight than cores only adds switching: 50 threads searched 30 % slower than 2.
        # BM25 and vector searches share these slots. BM25 queries are scored one batch at a time, all
        # that queued meanwhile in one statement: a statement's CPU per query falls with its size (2.95,
        # 1.91, 1.23, 0.85 ms for batches of 1, 2, 4, 8), and two batches in flight halved the batches.
        self._running = threading.BoundedSemaphore(os.cpu_count() or 2)
        self._searches: Coalescer[tuple[list[str], int], list[Hit]] = Coalescer(self._rank_queued, flushes=1)
        self.vectors = vectors.VectorSearch(layout, embedder) if embedder else None
        self._lexical_weight: float | None = None

    def _open(self) -> duckdb.DuckDBPyConnection:
        try:
            if not self.writable:
                if not self.layout.catalog.exists() or not self._current():
                    if not self.catch_up:  # reading never writes: the catalog stays as it is
                        self.warning = (
                            "the catalog's index is behind the corpus file: searched an in-memory index of it "
                            "('lakehouse corpus reindex' catches the catalog up)"
                        )
                        return self._memory_index()
                    refresh(self.layout)
                con = db.open_catalog(self.layout.catalog, lock_wait_s=0.5, read_only=True)
            else:
                # Under the corpus lock, so that what the index holds and what we have read agree.
                with exclusive_lock(self.layout.state_dir / "corpus.lock", wait=True):
                    refresh(self.layout)
                    con = db.open_catalog(self.layout.catalog, lock_wait_s=0.5)
                    self.corpus.read_new()
        except CatalogLockedError as exc:
            # Another process holds the catalog (an analyst's session): search the corpus file itself,
            # indexed in memory, so a replay still succeeds and sees every document.
            self.warning = f"{exc}; searching an in-memory index of the corpus file instead"
            return self._memory_index()
        try:
            prepare(con) if self.writable else db.load_extension(con, "fts")
            con.execute(load("corpus/macros"))
        except (duckdb.Error, CatalogError):
            con.close()
            raise
        return con

    def _memory_index(self) -> duckdb.DuckDBPyConnection:
        con = db.memory()
        self.in_memory = True
        try:
            prepare(con)
            self.corpus = corpus.CorpusReader(self.layout.rag_corpus)
            self.corpus.read_new()
            index_and_record(con, list(self.corpus.docs.values()), self.corpus.offset, settle=True)
        except (duckdb.Error, CatalogError) as exc:
            con.close()
            raise CatalogError(f"cannot index the corpus in memory: {db.one_line(exc)}") from exc
        return con

    def _current(self) -> bool:
        with db.catalog(self.layout.catalog, read_only=True, lock_wait_s=0.5) as con:
            return is_current(con, self.layout)

    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are not shared across threads)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.con.cursor()
            if self.writable and not self.in_memory:
                cursor.execute(f"USE {db.CATALOG_ALIAS}")  # a cursor starts in the base in-memory database
            cursor.execute(load("corpus/macros"))
        return cursor

    @property
    def view(self) -> IndexView:
        if self._view is None:
            with self._view_lock:
                if self._view is None:
                    self._view = IndexView(self.cursor)
        return self._view

    def search(self, query: str, k: int) -> tuple[list[Hit], float]:
        """BM25 top-k, and the milliseconds it took.

        Thread-safe. Queries asked while others are being scored queue up and are scored together
        by one statement (:func:`ranked_many`): under many threads, a statement's fixed cost is
        most of a query's (planning, and the GIL hand-offs of DuckDB's Python client).
        """
        start = time.perf_counter()
        try:
            terms = query_terms(self.cursor, query, self.view.stems)
            hits = self._searches.submit((terms, k)) if terms else None
        except duckdb.Error as exc:  # raised here, or by the flush that scored this query
            raise CatalogError(f"retrieval query failed: {db.one_line(exc)}") from exc
        return hits or [], (time.perf_counter() - start) * 1000

    def _rank_queued(self, queries: list[tuple[list[str], int]]) -> list[list[Hit]]:
        """Rank queued queries: a lone one as :func:`ranked` does (prepared statements), several by
        one statement; where an add was indexed meanwhile and the answer depended on the view, rank
        again, fresh.

        A prepared plan is only valid on the data its view saw (it keeps that data's statistics),
        and stored weights only at the mean document length the view saw; an add can commit
        between reading the view and scoring. So such an answer counts only if no add was being
        indexed from before the scoring to after it. A fresh query is planned on the data it
        reads and computes its weights from tf and len, whatever commits around it: so is a
        batch (one-shot SQL) while the view's mean has moved from the stored weights' (under adds).
        """
        with self._running:
            before = self._commits  # before the view is read: an add that commits after it counts
            view = self.view
            if len(queries) > 1 and not view.weights_current:
                return scoring.ranked_many(self.cursor, view, queries)
            if before % 2 == 0:
                try:
                    answers = self._rank(queries, view, fresh=False)
                    if self._commits == before:
                        return answers
                except duckdb.Error:
                    if self._commits == before:
                        raise
            return self._rank(queries, self.view, fresh=True)

    def _rank(self, queries: list[tuple[list[str], int]], view: IndexView, *, fresh: bool) -> list[list[Hit]]:
        if len(queries) == 1:
            terms, k = queries[0]
            return [scoring.ranked(self.cursor, view, terms, k, fresh=fresh)]
        return scoring.ranked_many(self.cursor, view, queries, fresh=fresh)

    def retrieve(
        self, query: str, k: int, method: str = "bm25", fusion: str = "cc"
    ) -> tuple[list[Hit], float]:
        """Top-k by BM25, by vector (cosine similarity) or hybrid (both, fused as ``fusion`` says).

        Vector and hybrid hits say which methods found them (``Hit.found_by``); a hybrid hit's
        score is the fused one (see :mod:`lakehouse.retrieval.vectors.fusion`).
        """
        vectors.check_method(method, self.vectors.embedder.model if self.vectors else None)
        vectors.check_fusion(fusion)
        if method == "bm25":
            return self.search(query, k)
        start = time.perf_counter()
        if method == "vector":
            found = [(rag_id, similarity, ("vector",)) for rag_id, similarity in self._nearest(query, k)]
        else:
            lexical, semantic, filled = self.candidates(query, max(k, HYBRID_DEPTH), fill=fusion == "cc")
            found = vectors.fuse(fusion, lexical, semantic, k, self.lexical_weight, filled)
        titles = {rag_id: title for rag_id, title, _ in self.documents([rag_id for rag_id, _, _ in found])}
        hits = [Hit(rag_id, titles.get(rag_id, ""), score, by) for rag_id, score, by in found]
        return hits, (time.perf_counter() - start) * 1000

    def candidates(
        self, query: str, depth: int, *, fill: bool = True
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]], list[tuple[str, float]]]:
        """What hybrid retrieval fuses: BM25's top ``depth`` (rag_id, score), the vectors' top ``depth``
        (rag_id, cosine), and the cosine of BM25's documents the vectors did not return (the fill-in).

        The fill-in matters: scored 0 for want of a rank in the vectors' top 20, BM25's best hit lost
        to documents both lists ranked low (success@5 of keyword queries at lexical weight 0.5: 0.89
        without it, 0.985 with; BENCHMARKS.md, retrieval quality). Reciprocal rank fusion ranks the
        two lists alone, so ``fill=False`` spares it the lookups.
        """
        semantic = self._nearest(query, depth)
        lexical = [(h.rag_id, h.score) for h in self.search(query, depth)[0]]
        filled: list[tuple[str, float]] = []
        if (
            fill and semantic and self.vectors is not None
        ):  # vectors exist (and the query's embedding is cached)
            returned = {rag_id for rag_id, _ in semantic}
            missing = [rag_id for rag_id, _ in lexical if rag_id not in returned]
            with self._running:
                filled = self.vectors.similarities(self.cursor, query, missing)
        return lexical, semantic, filled

    @property
    def lexical_weight(self) -> float:
        """The convex combination's lexical weight: the corpus's calibrated one, else the default."""
        if self._lexical_weight is None:
            stored = None
            if self.vectors is not None and not self.in_memory:
                stored = vectors.stored_weight(self.cursor, self.vectors.embedder.model)
            self._lexical_weight = stored.lexical_weight if stored else vectors.DEFAULT_LEXICAL_WEIGHT
        return self._lexical_weight

    def _nearest(self, query: str, k: int) -> list[tuple[str, float]]:
        assert self.vectors is not None
        if self.in_memory:  # the side-store is in the catalog another process holds
            unavailable = "vector retrieval unavailable while the catalog is held, BM25 only"
            if unavailable not in (self.warning or ""):
                self.warning = f"{self.warning}; {unavailable}" if self.warning else unavailable
            return []
        with self._running:
            return self.vectors.search(self.cursor, query, k)

    def documents(self, rag_ids: list[str]) -> list[tuple[str, str, str]]:
        """(rag_id, title, text) of retrieved documents: from the corpus a writable (or in-memory) searcher
        holds, which is what its index holds; else from the index, cached (playbooks come back run
        after run)."""
        if self.writable or self.in_memory:
            held = self.corpus.docs
            found = [(r, held[r].title, held[r].text) for r in rag_ids if r in held]
            if len(found) == len(rag_ids):
                return found
        missing = [r for r in rag_ids if r not in self._texts]
        if missing:
            if len(self._texts) > TEXT_CACHE_DOCS:
                self._texts.clear()
            self._texts.update((row[0], row) for row in scoring.documents(self.cursor, missing))
        return [self._texts[r] for r in rag_ids if r in self._texts]

    def add(self, docs: list[Document], report: corpus.AddReport) -> None:
        """Append documents to the corpus file and index them; the next search finds them.

        Needs ``writable=True`` (or the in-memory fallback). Adds from concurrent threads are
        written and indexed together, one corpus append and one transaction per batch.
        """
        if not (self.writable or self.in_memory):
            raise UsageError("this searcher is read-only: open it with writable=True to add documents")
        self._adds.submit((docs, report))

    def _index_added(self, batches: list[tuple[list[Document], corpus.AddReport]]) -> None:
        with exclusive_lock(self.layout.state_dir / "corpus.lock", wait=True):
            foreign = self.corpus.read_new()  # appended by other processes since we last looked
            changed = corpus.append_batches(self.layout, batches, self.corpus)
            if not (changed or foreign):
                return
            self._commits += 1  # only the flushing thread writes it (one flush at a time)
            try:
                self._view = self._index([*foreign, *changed])
            finally:
                self._commits += 1
            if self.vectors is not None and not self.in_memory:
                self._embed_added(changed, batches)
        for doc in [*foreign, *changed]:
            self._texts.pop(doc.rag_id, None)

    def _embed_added(
        self, changed: list[Document], batches: list[tuple[list[Document], corpus.AddReport]]
    ) -> None:
        """Store the added documents' vectors; a failure is reported to the add that brought the document."""
        assert self.vectors is not None
        docs = [(d.rag_id, corpus.content_sha(d), vectors.document_text(d.title, d.text)) for d in changed]
        outcome = vectors.embed_and_store(self.cursor, self.vectors.embedder, docs)
        owners = {doc.rag_id: report for batch, report in batches for doc in batch}
        for rag_id, reason in outcome.failed:
            owners[rag_id].not_embedded.append(f"{rag_id}: {reason}")

    def _index(self, docs: list[Document]) -> IndexView:
        """Index in one transaction; new documents only take the fast path (``append_new_documents``)."""
        cur, view = self.cursor, self.view
        all_new = len({d.rag_id for d in docs}) == len(docs) and not any(
            d.rag_id in view.doc_ids for d in docs
        )
        try:
            cur.execute("BEGIN")
            if all_new:
                view = append_new_documents(cur, view, docs, self.corpus.offset)
            else:
                index_and_record(cur, docs, self.corpus.offset, settle=False)
            cur.execute("COMMIT")
        except duckdb.Error as exc:
            cur.execute("ROLLBACK")
            raise CatalogError(f"cannot index added documents: {db.one_line(exc)}") from exc
        return view if all_new else IndexView(cur)

    def close(self) -> None:
        if self.vectors is not None:
            self.vectors.close()
        self.con.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
