"""BM25 retrieval as a DuckDB query over precomputed postings in the catalog (PRODUCT.md §5).

Tokenizer (the same as DuckDB fts's, so rankings match ``match_bm25``): lower-case, accents
stripped, split on digits, punctuation and white space, the 571 English stop words of fts
dropped, Porter stemming (fts's ``stem``). Scoring: BM25 with k1 = 1.2, b = 0.75 and
idf = log10((N - df + 0.5) / (df + 0.5) + 1), exactly as fts (df kept per term in ``rag_terms``).

Postings are rows (term_id, doc_id, tf, len, w) kept sorted by term in small row groups; the
query's terms are joined to them, and DuckDB's runtime join filter lets zone maps skip other
terms' row groups. w is the term's BM25 weight in the document at the mean document length of
the last settle (``record_index_state``); while that mean holds, queries sum idf * w, else they
compute the weight from tf and len (the same expression, so the same scores). Adding documents
appends their postings (the next query finds them); appended rows are re-sorted once they grow,
and an index update outside a long-lived searcher settles them at once (``catch_up``). A
searcher reads the term and title dictionaries once (``IndexView``); scoring is one DuckDB
statement per search, prepared once per connection and index version when it is used again
(``_top``).
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from lakehouse import corpus, db, vectors
from lakehouse.coalesce import Coalescer
from lakehouse.errors import CatalogError, CatalogLockedError, UsageError
from lakehouse.files import exclusive_lock, size_of
from lakehouse.paths import Layout
from lakehouse.sqlfiles import constant_list, load, number_literal, render
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


APPEND_SCHEMAS = {
    "new_documents": pa.schema(
        [("doc_id", pa.int32()), *((f.name, f.type) for f in INCOMING_SCHEMA), ("doc_len", pa.int32())]
    ),
    "new_postings": pa.schema(
        [("term_id", pa.int32()), ("doc_id", pa.int32()), ("tf", pa.int32()), ("len", pa.int32())]
    ),
    "new_tokens": pa.schema([("token", pa.string()), ("term", pa.string())]),
    "new_terms": pa.schema([("term_id", pa.int32()), ("term", pa.string()), ("df", pa.int64())]),
    "df_changes": pa.schema([("term_id", pa.int32()), ("delta", pa.int64())]),
    "new_stats": pa.schema([("docs", pa.int64()), ("total_len", pa.int64())]),
}

# Postings appended unsorted (by adds to a non-empty index) are re-sorted once they exceed this
# or a tenth of all postings: each unsorted row group is read by every query.
SORT_AFTER_ROWS = 8 * db.ROW_GROUP_SIZE
# Settling (re-sorting the postings and weighing them at the current mean document length) costs
# ~0.1 s per million postings; updates of larger indexes leave it to the periodic re-sort above.
SETTLE_MAX_POSTINGS = 20_000_000
TIE_MARGIN = 1e-9
# A scoring query returns this many rows past k: a tie across the cut that ends among them is
# broken by rag_id from those rows, without a second query for every tied document.
TIE_LOOKAHEAD = 8
TEXT_CACHE_DOCS = 10_000  # a searcher keeps the title and text of up to this many retrieved documents
HYBRID_DEPTH = 20  # hybrid retrieval fuses each method's top max(k, this)
PREPARE_ON_USE = 3  # a connection prepares a query shape at its third use on one view (see _top)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Load fts (for ``stem``), the tokenizer macro, and the corpus tables if missing."""
    db.load_extension(con, "fts")
    con.execute(load("corpus/macros"))
    if _has_old_layout(con):
        con.execute(load("corpus/drop_index"))
    con.execute(load("corpus/schema"))
    has_stopwords = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'rag_stopwords' AND schema_name = 'main'"
    ).fetchone()[0]
    if not has_stopwords:
        con.execute(load("corpus/stopwords"))


def _has_old_layout(con: duckdb.DuckDBPyConnection) -> bool:
    """An index written by an earlier version (without stored weights): derived data, rebuilt from the JSONL."""
    columns = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'rag_index_state' AND schema_name = 'main'"
        ).fetchall()
    }
    return bool(columns) and "weights_avgdl" not in columns


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
    return index_and_record(con, missing, size, settle=True)


def index_and_record(
    con: duckdb.DuckDBPyConnection, docs: list[Document], corpus_bytes: int, *, settle: bool
) -> int:
    """Index documents (any mix of new ones and new versions) and record the index's state.

    ``settle``: re-sort and re-weigh the postings now if the update moved them (see
    :func:`record_index_state`); a long-lived searcher adding often leaves that to the periodic re-sort.
    """
    (before,) = con.execute("SELECT count(*) FROM rag_postings").fetchone()
    count = index_documents(con, docs)
    (after,) = con.execute("SELECT count(*) FROM rag_postings").fetchone()
    record_index_state(con, corpus_bytes, appended=max(after - before, 0) if before else 0, settle=settle)
    return count


def record_index_state(
    con: duckdb.DuckDBPyConnection, corpus_bytes: int, appended: int, *, settle: bool
) -> float | None:
    """Record how much of the corpus file the index covers, how many postings are unsorted and
    the mean document length their weights were computed at; return that mean (None: no weights).

    Postings appended to a non-empty index are unsorted, and an update that changes the mean
    document length leaves the stored weights behind it (queries then compute them from tf and
    len). The table is rewritten sorted and re-weighed once unsorted rows pass ``SORT_AFTER_ROWS``
    (or a tenth of all postings), and on every update that moved them when ``settle`` is asked
    (up to ``SETTLE_MAX_POSTINGS``).
    """
    total, docs, total_len, unsorted, weights_avgdl = con.execute(load("corpus/index_state")).fetchone()
    unsorted = (unsorted or 0) + appended
    avgdl = total_len / docs if docs else None  # as IndexView computes it, so the two compare equal
    moved = unsorted > 0 or weights_avgdl != avgdl
    if unsorted > max(SORT_AFTER_ROWS, total // 10) or (settle and moved and total <= SETTLE_MAX_POSTINGS):
        con.execute(render(load("corpus/sort_postings"), avgdl=number_literal(avgdl or 1.0)))
        unsorted, weights_avgdl = 0, avgdl
    con.execute("DELETE FROM rag_index_state")
    values = ", ".join(number_literal(v) for v in (corpus_bytes, unsorted, weights_avgdl))
    con.execute(f"INSERT INTO rag_index_state VALUES ({values})")
    return weights_avgdl


def is_current(con: duckdb.DuckDBPyConnection, layout: Layout) -> bool:
    if _has_old_layout(con):
        return False
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


def reindex(layout: Layout, embedder: vectors.Embedder) -> tuple[int, vectors.ReindexReport]:
    """BM25 caught up with the corpus file (documents a killed add left unindexed), then the vectors."""
    indexed = refresh(layout)
    return indexed, vectors.reindex(layout, embedder)


_SPLIT = re.compile(r"[0-9!@#$%^&*()_+={}\[\]:;<>,.?~\\/|'\"`\t\n\f\r -]+")


def tokenize(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    """The tokens of ``lh_tokenize`` (sql/corpus/macros.sql); pure Python for ASCII text."""
    if not query.isascii():
        (tokens,) = con.execute(load("corpus/tokens"), {"query": query}).fetchone()
        return [t for t in tokens if t]
    return [t for t in _SPLIT.split(query.lower()) if t]


def query_terms(con: duckdb.DuckDBPyConnection, query: str, stems: dict[str, str | None]) -> list[str]:
    """A query's distinct index terms (stop words dropped, Porter-stemmed), sorted.

    ``stems`` maps tokens to terms (None: stop word); tokens it lacks are stemmed by DuckDB
    and added to it.
    """
    tokens = set(tokenize(con, query))
    missing = [t for t in tokens if t not in stems]
    if missing:
        stems.update(con.execute(render(load("corpus/stems"), tokens=constant_list(missing))).fetchall())
    return sorted({term for t in tokens if (term := stems[t])})


_view_generations = itertools.count()


class IndexView:
    """The index's dictionaries, read once from a connection: term -> (term_id, df), doc_id -> names.

    Scoring stays one DuckDB query over the postings; these maps spare each query a term lookup
    and a title lookup (~1 and ~2.4 ms at 100k documents). Valid while the connection's view of
    the catalog is: a read-only connection, or until the caller writes to the index. Each view
    has its own ``generation``: scoring statements prepared under another are prepared again.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        _, docs, total_len, _, weights_avgdl = con.execute(load("corpus/index_state")).fetchone()
        self.docs, self.total_len = docs or 0, total_len or 0
        self.avgdl = self.total_len / self.docs if self.docs else 0.0
        self.weights_avgdl: float | None = weights_avgdl
        self.terms = {
            term: (term_id, df) for term, term_id, df in con.execute(load("corpus/terms")).fetchall()
        }
        self.names = {
            doc_id: (rag_id, title) for doc_id, rag_id, title in con.execute(load("corpus/titles")).fetchall()
        }
        self.stems: dict[str, str | None] = dict(con.execute(load("corpus/token_terms")).fetchall())
        self.doc_ids = {rag_id: doc_id for doc_id, (rag_id, _) in self.names.items()}
        self.next_term_id = max((term_id for term_id, _ in self.terms.values()), default=0) + 1
        self.next_doc_id = max(self.names, default=0) + 1
        self.generation = next(_view_generations)

    def idf(self, df: int) -> float:
        return math.log10((self.docs - df + 0.5) / (df + 0.5) + 1)

    @property
    def weights_current(self) -> bool:
        """Whether the postings' stored weights were computed at this view's mean document length."""
        return self.weights_avgdl == self.avgdl

    def tf_part(self, avgdl_sql: str, *, stored: bool = True) -> str:
        """The scoring statements' ``tf_part`` slot: the stored weight w while it is current (and
        ``stored``), else the weight computed from tf and len."""
        return "w" if stored and self.weights_current else f"lh_bm25_tf(tf, len, {avgdl_sql})"


def append_new_documents(
    con: duckdb.DuckDBPyConnection, view: IndexView, docs: list[Document], corpus_bytes: int
) -> IndexView:
    """Index documents whose rag_ids are not in the index, record its state; return a view including them.

    The same rows as ``index_docs.sql`` (tests compare the two), computed in Python from the
    view's dictionaries and written by one multi-statement script: index_docs.sql's dozen
    statements cost ~40 ms per add in DuckDB's fixed per-statement work, this ~10 ms. The
    view is copied, not changed, so concurrent searches keep a consistent one.
    """
    docs = sorted(docs, key=lambda d: d.rag_id)
    tokens = [tokenize(con, f"{d.title} {d.text}") for d in docs]
    stems = dict(view.stems)
    unknown = sorted({t for doc_tokens in tokens for t in doc_tokens} - stems.keys())
    if unknown:
        stems.update(con.execute(render(load("corpus/stems"), tokens=constant_list(unknown))).fetchall())
    terms = dict(view.terms)
    fresh = sorted({stems[t] for doc_tokens in tokens for t in doc_tokens if stems[t]} - terms.keys())
    for offset, term in enumerate(fresh):
        terms[term] = (view.next_term_id + offset, 0)
    rows: dict[str, list[dict[str, Any]]] = {"new_documents": [], "new_postings": []}
    token_terms: dict[str, str] = {}
    df_delta: Counter[str] = Counter()
    for doc_id, doc, doc_tokens in zip(itertools.count(view.next_doc_id), docs, tokens):
        doc_terms = [stems[t] for t in doc_tokens if stems[t]]
        rows["new_documents"].append(
            {
                **doc.to_json(),
                "doc_id": doc_id,
                "updated_at": doc.updated_at or None,
                "content_sha": corpus.content_sha(doc),
                "doc_len": len(doc_terms),
            }
        )
        for term, tf in sorted(Counter(doc_terms).items()):
            rows["new_postings"].append(
                {"term_id": terms[term][0], "doc_id": doc_id, "tf": tf, "len": len(doc_terms)}
            )
            df_delta[term] += 1
        token_terms.update((t, stems[t]) for t in doc_tokens if stems[t])
    rows["new_tokens"] = [{"token": t, "term": term} for t, term in token_terms.items()]
    for term, delta in df_delta.items():
        terms[term] = (terms[term][0], terms[term][1] + delta)
    total_len = view.total_len + sum(r["doc_len"] for r in rows["new_documents"])
    tables = {
        **{name: pa.Table.from_pylist(values, schema=APPEND_SCHEMAS[name]) for name, values in rows.items()},
        "new_terms": pa.Table.from_pylist(
            [{"term_id": terms[t][0], "term": t, "df": terms[t][1]} for t in fresh],
            schema=APPEND_SCHEMAS["new_terms"],
        ),
        "df_changes": pa.Table.from_pylist(
            [{"term_id": terms[t][0], "delta": d} for t, d in df_delta.items() if t not in fresh],
            schema=APPEND_SCHEMAS["df_changes"],
        ),
        "new_stats": pa.Table.from_pylist(
            [{"docs": view.docs + len(docs), "total_len": total_len}], schema=APPEND_SCHEMAS["new_stats"]
        ),
    }
    for name, table in tables.items():
        con.register(name, table)
    try:
        weights_avgdl = "NULL::DOUBLE" if view.weights_avgdl is None else number_literal(view.weights_avgdl)
        con.execute(render(load("corpus/append_new"), weights_avgdl=weights_avgdl))
    finally:
        for name in tables:
            con.unregister(name)
    weights_avgdl = record_index_state(
        con, corpus_bytes, appended=len(rows["new_postings"]) if view.docs else 0, settle=False
    )
    updated = copy.copy(view)
    updated.docs, updated.total_len = view.docs + len(docs), total_len
    updated.avgdl = total_len / updated.docs
    updated.weights_avgdl = weights_avgdl
    updated.terms, updated.stems = terms, stems
    updated.names = {**view.names, **{r["doc_id"]: (r["rag_id"], r["title"]) for r in rows["new_documents"]}}
    updated.doc_ids = {**view.doc_ids, **{r["rag_id"]: r["doc_id"] for r in rows["new_documents"]}}
    updated.next_term_id = view.next_term_id + len(fresh)
    updated.next_doc_id = view.next_doc_id + len(docs)
    updated.generation = next(_view_generations)
    return updated


def ranked(
    con: duckdb.DuckDBPyConnection, view: IndexView, terms: list[str], k: int, *, fresh: bool = False
) -> list[Hit]:
    """BM25 top-k for already tokenized terms, best first, ties broken by rag_id.

    ``fresh=True`` plans the query afresh, on the data it reads, and computes every weight from
    tf and len (see :meth:`Searcher._rank_queued`).
    """
    weights = _weights(view, terms)
    if not weights or k <= 0:
        return []
    limit = k + TIE_LOOKAHEAD
    rows = _score_once(con, view, weights, limit, stored=False) if fresh else _top(con, view, weights, limit)
    return _hits(con, view, weights, rows, k, limit)


def ranked_many(
    con: duckdb.DuckDBPyConnection,
    view: IndexView,
    queries: list[tuple[list[str], int]],
    *,
    fresh: bool = False,
) -> list[list[Hit]]:
    """What :func:`ranked` answers for each ``(terms, k)``, the scoring done by one statement for all."""
    weights = [_weights(view, terms) if k > 0 else [] for terms, k in queries]
    rows: dict[int, list[tuple[int, float]]] = {n: [] for n, w in enumerate(weights) if w}
    limit = max((queries[n][1] for n in rows), default=0) + TIE_LOOKAHEAD
    if rows:
        sql = render(
            load("corpus/search_batch"),
            query_terms=", ".join(
                f"({n}, {number_literal(term_id)}, {number_literal(idf)})"
                for n in rows
                for term_id, idf in weights[n]
            ),
            terms=", ".join(number_literal(t) for t in sorted({t for n in rows for t, _ in weights[n]})),
            tf_part=view.tf_part(number_literal(view.avgdl), stored=not fresh),
            limit=number_literal(limit),
        )
        for query_no, doc_id, score in con.execute(sql).fetchall():
            rows[query_no].append((doc_id, score))
    return [
        _hits(
            con,
            view,
            weights[n],
            sorted(rows.get(n, []), key=lambda row: -row[1]),
            k,
            limit,
        )
        for n, (_, k) in enumerate(queries)
    ]


def _weights(view: IndexView, terms: list[str]) -> list[tuple[int, float]]:
    """(term_id, idf) of the query terms the index knows."""
    if not view.docs:
        return []
    return [(term_id, view.idf(df)) for term_id, df in (view.terms[t] for t in terms if t in view.terms)]


def _hits(
    con: duckdb.DuckDBPyConnection,
    view: IndexView,
    weights: list[tuple[int, float]],
    rows: list[tuple[int, float]],
    k: int,
    limit: int,
) -> list[Hit]:
    """The top k of the best ``limit`` (doc_id, score), best first, named, ties at the cut broken by rag_id."""
    if len(rows) > k and rows[k][1] == rows[k - 1][1]:
        # A tie across the cut: every document scoring at least the tie competes, so rag_id, not
        # the order DuckDB returned them in, decides who stays (the margin absorbs the last bits of
        # a parallel sum's order). If the tie may go on past the rows at hand, ask for all of it,
        # weights from tf and len: the same scores, and valid whatever an add committed since.
        floor = rows[k][1] - TIE_MARGIN
        if len(rows) >= limit and rows[-1][1] >= floor:
            rows = _score_once(con, view, weights, view.docs, at_least=floor, stored=False)
        rows = [row for row in rows if row[1] >= floor]
    unnamed = [doc_id for doc_id, _ in rows if doc_id not in view.names]
    if unnamed:  # indexed after this view was read (a concurrent add)
        sql = render(load("corpus/names"), ids=constant_list(unnamed))
        view.names.update((d, (r, t)) for d, r, t in con.execute(sql).fetchall())
    hits = [Hit(*view.names.get(doc_id, ("", "")), float(score)) for doc_id, score in rows]
    return sorted(hits, key=lambda h: (-h.score, h.rag_id))[:k]


# Per connection (each DuckDB connection keeps its own prepared statements; one thread uses a
# connection at a time): the view generation, and how often each scoring statement was asked for
# under it (prepared at the PREPARE_ON_USE-th time).
_prepared: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, tuple[int, dict[str, int]]] = (
    weakref.WeakKeyDictionary()
)


def _top(
    con: duckdb.DuckDBPyConnection, view: IndexView, weights: list[tuple[int, float]], limit: int
) -> list[tuple[int, float]]:
    """The best ``limit`` (doc_id, score), best first: one-shot SQL the first times a connection
    asks a query of this shape on this view, then a prepared statement.

    Planning is most of a query's cost (~0.9 of 1.4 ms at 100k documents), and a prepared
    statement is planned once. But its plan keeps the statistics of when it was prepared (DuckDB
    sizes a perfect hash aggregate by the doc_id range, and fails on ids added later), so it is
    only valid for one view. Where the view changes with nearly every query (a writable searcher
    under adds), preparing at once would plan as often as one-shot SQL and execute on top: hence
    prepare at the ``PREPARE_ON_USE``-th use (bench/NOTES.md has the measurements). Term slots come
    in powers of two (unused ones match no posting), so a connection holds a few statements.
    """
    slots = 1 << (len(weights) - 1).bit_length()
    stored = view.weights_current
    name = f"lh_bm25_{'w' if stored else 'tf'}_{slots}_{limit}"
    generation, statements = _prepared.get(con, (None, {}))
    if generation != view.generation:
        _prepared[con] = (view.generation, statements := {})
    uses = statements[name] = statements.get(name, 0) + 1
    if uses < PREPARE_ON_USE:
        return _score_once(con, view, weights, limit)
    if uses == PREPARE_ON_USE:
        sql = render(
            load("corpus/search_prepared"),
            query_terms=", ".join(f"($t{i}::INTEGER, $w{i}::DOUBLE)" for i in range(slots)),
            tf_part=view.tf_part("$avgdl::DOUBLE"),
            limit=number_literal(limit),
        )
        con.execute(f"PREPARE {name} AS {sql}")
    values: dict[str, int | float] = {} if stored else {"avgdl": view.avgdl}
    for i, (term_id, idf) in enumerate(weights + [(-1, 0.0)] * (slots - len(weights))):
        values[f"t{i}"], values[f"w{i}"] = term_id, idf
    # Literal arguments (numbers we computed): DuckDB cannot bind parameters into an EXECUTE.
    arguments = ", ".join(f"{key} := {number_literal(value)}" for key, value in values.items())
    return con.execute(f"EXECUTE {name}({arguments})").fetchall()


def _score_once(
    con: duckdb.DuckDBPyConnection,
    view: IndexView,
    weights: list[tuple[int, float]],
    limit: int,
    at_least: float | None = None,
    *,
    stored: bool = True,
) -> list[tuple[int, float]]:
    """The best ``limit`` (doc_id, score) by one-shot SQL, best first, optionally only those scoring
    at least ``at_least``; ``stored=False`` computes every weight from tf and len.

    Numbers we computed, written into the SQL: as bound parameters they keep DuckDB from pruning
    row groups at plan time (measured at 100k documents: 4.3 ms a query bound, 2.5 ms written).
    """
    sql = render(
        load("corpus/search"),
        terms=", ".join(number_literal(term_id) for term_id, _ in weights),
        weights=" ".join(f"WHEN {number_literal(t)} THEN {number_literal(idf)}" for t, idf in weights),
        tf_part=view.tf_part(number_literal(view.avgdl), stored=stored),
        limit=number_literal(limit),
        having="" if at_least is None else f"HAVING score >= {number_literal(at_least)}",
    )
    return con.execute(sql).fetchall()


def search(con: duckdb.DuckDBPyConnection, query: str, k: int, view: IndexView | None = None) -> list[Hit]:
    """Top-k documents for a query, best first (ties by rag_id)."""
    try:
        view = view or IndexView(con)
        terms = query_terms(con, query, view.stems)
        return ranked(con, view, terms, k) if terms else []
    except duckdb.Error as exc:
        raise CatalogError(f"retrieval query failed: {db.one_line(exc)}") from exc


def documents(con: duckdb.DuckDBPyConnection, rag_ids: list[str]) -> list[tuple[str, str, str]]:
    """(rag_id, title, text) of the given documents, in the order asked."""
    if not rag_ids:
        return []
    rows = con.execute(render(load("corpus/documents"), ids=constant_list(rag_ids))).fetchall()
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
    ) -> None:
        self.layout = layout
        self.writable = writable
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
        # BM25 and vector searches share these slots; BM25 queries waiting for one are batched.
        self._running = threading.BoundedSemaphore(os.cpu_count() or 2)
        self._searches: Coalescer[tuple[list[str], int], list[Hit]] = Coalescer(
            self._rank_queued, flushes=os.cpu_count() or 2
        )
        self.vectors = vectors.VectorSearch(layout, embedder) if embedder else None

    def _open(self) -> duckdb.DuckDBPyConnection:
        try:
            if not self.writable:
                if not self.layout.catalog.exists() or not self._current():
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
                return ranked_many(self.cursor, view, queries)
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
            return [ranked(self.cursor, view, terms, k, fresh=fresh)]
        return ranked_many(self.cursor, view, queries, fresh=fresh)

    def retrieve(self, query: str, k: int, method: str = "bm25") -> tuple[list[Hit], float]:
        """Top-k by BM25, by vector (cosine similarity) or hybrid (reciprocal rank fusion of both).

        Vector and hybrid hits say which methods found them (``Hit.found_by``).
        """
        vectors.check_method(method, self.vectors.embedder.model if self.vectors else None)
        if method == "bm25":
            return self.search(query, k)
        start = time.perf_counter()
        depth = k if method == "vector" else max(k, HYBRID_DEPTH)
        nearest = self._nearest(query, depth)
        if method == "vector":
            found = [(rag_id, similarity, ("vector",)) for rag_id, similarity in nearest]
        else:
            lexical, _ = self.search(query, depth)
            found = vectors.reciprocal_rank_fusion(
                {"bm25": [h.rag_id for h in lexical], "vector": [rag_id for rag_id, _ in nearest]}, k
            )
        titles = {rag_id: title for rag_id, title, _ in self.documents([rag_id for rag_id, _, _ in found])}
        hits = [Hit(rag_id, titles.get(rag_id, ""), score, by) for rag_id, score, by in found]
        return hits, (time.perf_counter() - start) * 1000

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
        """(rag_id, title, text) of retrieved documents, cached: playbooks come back run after run."""
        missing = [r for r in rag_ids if r not in self._texts]
        if missing:
            if len(self._texts) > TEXT_CACHE_DOCS:
                self._texts.clear()
            self._texts.update((row[0], row) for row in documents(self.cursor, missing))
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
            changed: list[Document] = []
            for docs, report in batches:
                changed += corpus.append(self.layout, docs, report, self.corpus)
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
