"""BM25 retrieval as a DuckDB query over precomputed postings in the catalog (PRODUCT.md §5).

Tokenizer (the same as DuckDB fts's, so rankings match ``match_bm25``): lower-case, accents
stripped, split on digits, punctuation and white space, the 571 English stop words of fts
dropped, Porter stemming (fts's ``stem``). Scoring: BM25 with k1 = 1.2, b = 0.75 and
idf = log10((N - df + 0.5) / (df + 0.5) + 1), exactly as fts (df kept per term in ``rag_terms``).

Postings are rows (term, rag_id, tf, len) inserted sorted by term; the query's terms are
bound as constants, so the filter is pushed into the scan and zone maps skip other terms'
row groups. Adding documents inserts their postings; the next query finds them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from lakehouse import corpus, db
from lakehouse.errors import CatalogError, CatalogLockedError
from lakehouse.files import exclusive_lock, size_of
from lakehouse.paths import Layout
from lakehouse.sqlfiles import bound_list, load, render
from lakehouse.types import Document, Hit

INCOMING_SCHEMA = pa.schema(
    [
        ("rag_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("source_evidence_ids", pa.list_(pa.string())),
        ("updated_at", pa.string()),
        ("content_sha", pa.string()),
    ]
)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Load fts (for ``stem``), the tokenizer macro, and the corpus tables if missing."""
    db.load_extension(con, "fts")
    con.execute(load("corpus/tokenize"))
    con.execute(load("corpus/schema"))
    has_stopwords = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'rag_stopwords' AND schema_name = 'main'"
    ).fetchone()[0]
    if not has_stopwords:
        con.execute(load("corpus/stopwords"))


def index_documents(con: duckdb.DuckDBPyConnection, docs: Iterable[Document]) -> int:
    """Put documents (new, or new versions of existing rag_ids) into the corpus tables and postings."""
    rows = [
        {**d.to_json(), "updated_at": d.updated_at or None, "content_sha": corpus.content_sha(d)}
        for d in docs
    ]
    if not rows:
        return 0
    incoming = pa.Table.from_pylist(rows, schema=INCOMING_SCHEMA)
    con.register("incoming_arrow", incoming)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE incoming AS "
            "SELECT * REPLACE (CAST(updated_at AS TIMESTAMPTZ) AS updated_at) FROM incoming_arrow"
        )
        con.execute(load("corpus/index_docs"))
    finally:
        con.unregister("incoming_arrow")
    return len(rows)


def catch_up(con: duckdb.DuckDBPyConnection, layout: Layout) -> int:
    """Index every document of the corpus file that the index lacks or holds in another version."""
    size = size_of(layout.rag_corpus)
    state = con.execute("SELECT corpus_bytes FROM rag_index_state").fetchone()
    if state is not None and state[0] == size:
        return 0
    indexed = dict(con.execute("SELECT rag_id, content_sha FROM rag_corpus").fetchall())
    missing = [d for d in corpus.load(layout).values() if indexed.get(d.rag_id) != corpus.content_sha(d)]
    count = index_documents(con, missing)
    con.execute("DELETE FROM rag_index_state")
    con.execute("INSERT INTO rag_index_state VALUES (?)", [size])
    return count


def is_current(con: duckdb.DuckDBPyConnection, layout: Layout) -> bool:
    try:
        state = con.execute("SELECT corpus_bytes FROM rag_index_state").fetchone()
    except duckdb.CatalogException:
        return False
    return state is not None and state[0] == size_of(layout.rag_corpus)


def refresh(layout: Layout) -> int:
    """Bring the index up to date with the corpus file (a short write connection)."""
    with db.catalog(layout.catalog) as con:
        try:
            prepare(con)
            con.execute("BEGIN")
            count = catch_up(con, layout)
            con.execute("COMMIT")
            return count
        except duckdb.Error as exc:
            raise CatalogError(f"cannot update the retrieval index: {db.one_line(exc)}") from exc


def query_terms(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    return [term for (term,) in con.execute(load("corpus/query_terms"), {"query": query}).fetchall()]


def ranked(con: duckdb.DuckDBPyConnection, terms: list[str], k: int) -> list[tuple[str, float]]:
    """BM25 top-k ``(rag_id, score)`` for already tokenized terms."""
    term_list, params = bound_list("t", terms)
    dfs = dict(con.execute(render(load("corpus/term_stats"), terms=term_list), params).fetchall())
    stats = con.execute("SELECT docs, total_len FROM rag_stats").fetchone()
    if not dfs or stats is None or not stats[0]:
        return []
    docs, total_len = stats
    known = [t for t in terms if t in dfs]
    term_list, params = bound_list("t", known)
    idf = [math.log10((docs - dfs[t] + 0.5) / (dfs[t] + 0.5) + 1) for t in known]
    weights = {f"w{i}": value for i, value in enumerate(idf)}
    weight_rows = ", ".join(f"($t{i}, $w{i}::DOUBLE)" for i in range(len(known)))
    sql = render(load("corpus/search"), terms=term_list, weights=weight_rows)
    rows = con.execute(sql, {**params, **weights, "avgdl": total_len / docs, "k": k}).fetchall()
    return [(rag_id, float(score)) for rag_id, score in rows]


def search(con: duckdb.DuckDBPyConnection, query: str, k: int) -> list[Hit]:
    """Top-k documents for a query, best first (ties by rag_id)."""
    try:
        terms = query_terms(con, query)
        scored = ranked(con, terms, k) if terms else []
        titles = {rag_id: title for rag_id, title, _ in documents(con, [rag_id for rag_id, _ in scored])}
    except duckdb.Error as exc:
        raise CatalogError(f"retrieval query failed: {db.one_line(exc)}") from exc
    return [Hit(rag_id, titles.get(rag_id) or "", score) for rag_id, score in scored]


def documents(con: duckdb.DuckDBPyConnection, rag_ids: list[str]) -> list[tuple[str, str, str]]:
    """(rag_id, title, text) of the given documents, in the order asked."""
    if not rag_ids:
        return []
    id_list, params = bound_list("d", rag_ids)
    rows = con.execute(render(load("corpus/documents"), ids=id_list), params).fetchall()
    found = {row[0]: row for row in rows}
    return [found[r] for r in rag_ids if r in found]


def add_documents(layout: Layout, docs: list[Document], report: corpus.AddReport) -> str | None:
    """Append new or changed documents to the corpus file, then index them.

    Returns a one-line warning when the catalog is busy: the documents are in the JSONL and
    are indexed by the next write or ``lakehouse sync``.
    """
    with exclusive_lock(layout.state_dir / "corpus.lock", wait=True):
        corpus.append(layout, docs, report)
        try:
            refresh(layout)
        except CatalogError as exc:
            return f"documents written, but the retrieval index is behind ({exc}); run 'lakehouse sync'"
    return None


class Searcher:
    """A read connection to the catalog for many queries; refreshes the index first when it is behind."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.warning: str | None = None
        self.con = self._open()
        self._local = threading.local()

    def _open(self) -> duckdb.DuckDBPyConnection:
        if not self.layout.catalog.exists() or not self._current():
            try:
                refresh(self.layout)
            except CatalogLockedError as exc:
                # Another process holds the catalog: search what is indexed; the next write catches up.
                self.warning = f"retrieval index may be behind the corpus ({exc})"
        con = db.open_catalog(self.layout.catalog, read_only=True)
        try:
            db.load_extension(con, "fts")
            con.execute(load("corpus/tokenize"))
        except (duckdb.Error, CatalogError):
            con.close()
            raise
        return con

    def _current(self) -> bool:
        with db.catalog(self.layout.catalog, read_only=True) as con:
            return is_current(con, self.layout)

    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (DuckDB connections are not shared across threads)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.con.cursor()
            cursor.execute(load("corpus/tokenize"))
        return cursor

    def search(self, query: str, k: int) -> tuple[list[Hit], float]:
        start = time.perf_counter()
        hits = search(self.cursor, query, k)
        return hits, (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
