"""The BM25 index in the catalog: tokenizer, postings, incremental adds (PRODUCT.md §5).

Tokenizer (the same as DuckDB fts's, so rankings match ``match_bm25``): lower-case, accents
stripped, split on digits, punctuation and white space, the 571 English stop words of fts
dropped, Porter stemming (fts's ``stem``). df is kept per term in ``rag_terms``.

Postings are rows (term_id, doc_id, tf, len, w) kept sorted by term in small row groups, so
DuckDB's runtime join filter lets zone maps skip other terms' row groups when a query's terms
are joined to them (:mod:`lakehouse.retrieval.scoring`). w is the term's BM25 weight in the
document at the mean document length of the last settle (``record_index_state``). Adding
documents appends their postings (the next query finds them); appended rows are re-sorted once
they grow, and an index update outside a long-lived searcher settles them at once
(``catch_up``). A searcher reads the term and title dictionaries once (:class:`IndexView`).
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from lakehouse.core import collector, db
from lakehouse.core.errors import CatalogError
from lakehouse.core.files import size_of
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import constant_list, load, number_literal, render
from lakehouse.core.types import Document
from lakehouse.retrieval import corpus, vectors

INCOMING_SCHEMA = corpus.DOCUMENT_ROWS  # the documents an add indexes, one row each


APPEND_SCHEMAS = {
    "new_documents": pa.schema(
        [("doc_id", pa.int32()), *((f.name, f.type) for f in INCOMING_SCHEMA), ("doc_len", pa.int32())]
    ),
    "new_postings": pa.schema(
        [("term_id", pa.int32()), ("doc_id", pa.int32()), ("tf", pa.int32()), ("len", pa.int32())]
    ),
    "new_tokens": pa.schema([("token", pa.string()), ("term", pa.string())]),
    "new_terms": pa.schema([("term_id", pa.int32()), ("term", pa.string()), ("df", pa.int64())]),
}

TOKENIZE_BATCH_ROWS = 8_192  # documents a DuckDB thread tokenizes at a time (measured: 4k-16k alike)

# Postings appended unsorted (by adds to a non-empty index) are re-sorted once they exceed this
# or a tenth of all postings: each unsorted row group is read by every query. Measured under
# bench/load.py (112k postings, ~100 adds/s): a batch of 14 queries cost 6.6 ms over sorted postings,
# 9.0 with 10k unsorted, 19.5 with 60k; a re-sort of the 112k costs ~25 ms.
SORT_AFTER_ROWS = 2 * db.ROW_GROUP_SIZE
# Settling (re-sorting the postings and weighing them at the current mean document length) costs
# ~0.1 s per million postings; updates of larger indexes leave it to the periodic re-sort above.
SETTLE_MAX_POSTINGS = 20_000_000


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


def index_documents(con: duckdb.DuckDBPyConnection, docs: Iterable[Document] | pa.Table) -> int:
    """Put documents (new, or new versions of existing rag_ids) into the corpus tables and postings;
    ``docs`` may be their rows already (:func:`incoming_rows`)."""
    incoming = docs if isinstance(docs, pa.Table) else incoming_rows(list(docs))
    if not incoming.num_rows:
        return 0
    # index_docs.sql reads the batches themselves, on all of DuckDB's threads
    con.register("incoming_arrow", db.in_batches(incoming, TOKENIZE_BATCH_ROWS))
    try:
        con.execute(load("corpus/index_docs"))
    finally:
        con.unregister("incoming_arrow")
    return incoming.num_rows


def incoming_rows(docs: list[Document]) -> pa.Table:
    """The documents as ``INCOMING_SCHEMA`` rows, column by column (rows of dicts cost twice as much)."""
    with collector.paused():  # a row of Python objects a document: 0.1-0.25 s less at 83,333
        columns = {
            "rag_id": [d.rag_id for d in docs],
            "title": [d.title for d in docs],
            "text": [d.text for d in docs],
            "tags": [d.tags for d in docs],
            "source_evidence_ids": [d.source_evidence_ids for d in docs],
            "updated_at": [d.updated_at or None for d in docs],
            "content_sha": [corpus.content_sha(d) for d in docs],
        }
        return pa.Table.from_pydict(columns, schema=INCOMING_SCHEMA)


@dataclass
class Appended:
    """Documents appended to the corpus file, or being appended by a thread of the caller's: the file's
    size before them, their rows (:func:`incoming_rows`), and ``size_after``, which waits for the write
    (raising its error) and returns the file's size."""

    before: int
    rows: pa.Table
    size_after: Callable[[], int]


def catch_up(con: duckdb.DuckDBPyConnection, layout: Layout, appended: Appended | None = None) -> int:
    """Index every document of the corpus file that the index lacks or holds in another version
    (only ``appended``'s documents when the index covered the file up to its size before; see refresh)."""
    state = con.execute("SELECT corpus_bytes FROM rag_index_state").fetchone()
    covered = state[0] if state else 0
    if appended is not None and appended.rows.num_rows and covered == appended.before:
        return index_and_record(con, appended.rows, appended.size_after, settle=True)
    # with documents being appended, the file is read once they are written
    size = size_of(layout.rag_corpus) if appended is None else appended.size_after()
    if state is not None and covered == size:
        return 0
    if appended is not None and covered == appended.before:  # nothing appended, and the file was covered
        return index_and_record(con, appended.rows, size, settle=True)
    indexed = dict(con.execute("SELECT rag_id, content_sha FROM rag_corpus").fetchall())
    missing = [d for d in corpus.load(layout).values() if indexed.get(d.rag_id) != corpus.content_sha(d)]
    return index_and_record(con, missing, size, settle=True)


def index_and_record(
    con: duckdb.DuckDBPyConnection,
    docs: list[Document] | pa.Table,
    corpus_bytes: int | Callable[[], int],
    *,
    settle: bool,
) -> int:
    """Index documents (any mix of new ones and new versions, or their rows) and record the index's state.

    ``corpus_bytes``: how much of the corpus file the index then covers, or a function returning it once the
    documents are indexed (``Appended.size_after``). ``settle``: re-sort and re-weigh the postings now if the
    update moved them (see :func:`record_index_state`); a long-lived searcher adding often leaves that to the
    periodic re-sort.
    """
    (before,) = con.execute("SELECT count(*) FROM rag_postings").fetchone()
    count = index_documents(con, docs)
    (after,) = con.execute("SELECT count(*) FROM rag_postings").fetchone()
    if callable(corpus_bytes):
        corpus_bytes = corpus_bytes()
    record_index_state(con, corpus_bytes, appended=max(after - before, 0) if before else 0, settle=settle)
    return count


def record_index_state(
    con: duckdb.DuckDBPyConnection,
    corpus_bytes: int,
    appended: int,
    *,
    settle: bool,
    known: tuple[int, int, int, int, float | None] | None = None,
) -> tuple[int, float | None]:
    """Record how much of the corpus file the index covers, how many postings are unsorted and
    the mean document length their weights were computed at; return those two (mean None: no weights).

    ``known``: what ``corpus/index_state`` would read (postings, documents, their total length, unsorted
    postings before this update, weights' mean), when the caller keeps track of it (a writable searcher).

    Postings appended to a non-empty index are unsorted, and an update that changes the mean
    document length leaves the stored weights behind it (queries then compute them from tf and
    len). The table is rewritten sorted and re-weighed once unsorted rows pass ``SORT_AFTER_ROWS``
    (or a tenth of all postings), and on every update that moved them when ``settle`` is asked
    (up to ``SETTLE_MAX_POSTINGS``).
    """
    total, docs, total_len, unsorted, weights_avgdl = (
        known or con.execute(load("corpus/index_state")).fetchone()
    )
    unsorted = (unsorted or 0) + appended
    avgdl = total_len / docs if docs else None  # as IndexView computes it, so the two compare equal
    moved = unsorted > 0 or weights_avgdl != avgdl
    if unsorted > max(SORT_AFTER_ROWS, total // 10) or (settle and moved and total <= SETTLE_MAX_POSTINGS):
        con.execute(render(load("corpus/sort_postings"), avgdl=number_literal(avgdl or 1.0)))
        unsorted, weights_avgdl = 0, avgdl
    con.execute("DELETE FROM rag_index_state")
    values = ", ".join(number_literal(v) for v in (corpus_bytes, unsorted, weights_avgdl))
    con.execute(f"INSERT INTO rag_index_state VALUES ({values})")
    return unsorted, weights_avgdl


def is_current(con: duckdb.DuckDBPyConnection, layout: Layout, corpus_bytes: int | None = None) -> bool:
    """Whether the index covers the corpus file (as it is now, or ``corpus_bytes`` of it)."""
    if _has_old_layout(con):
        return False
    try:
        state = con.execute("SELECT corpus_bytes FROM rag_index_state").fetchone()
    except duckdb.CatalogException:
        return False
    expected = size_of(layout.rag_corpus) if corpus_bytes is None else corpus_bytes
    return state is not None and state[0] == expected


def refresh(layout: Layout, appended: Appended | None = None) -> int:
    """Bring the index up to date with the corpus file (a short write connection).

    ``appended``: the documents the caller just appended, or is appending: an index that covered the file
    before takes in those alone, without reading the file again, and covers the file once they are written.
    """
    with db.catalog(layout.catalog) as con:
        try:
            prepare(con)
            con.execute("BEGIN")
            count = catch_up(con, layout, appended)
            con.execute("COMMIT")
            return count
        except duckdb.Error as exc:
            raise CatalogError(f"cannot update the retrieval index: {db.one_line(exc)}") from exc


def reindex(
    layout: Layout, embedder: vectors.Embedder, progress: vectors.BuildProgress | None = None
) -> tuple[int, vectors.ReindexReport]:
    """BM25 caught up with the corpus file (documents a killed add left unindexed), then the vectors."""
    indexed = refresh(layout)
    return indexed, vectors.reindex(layout, embedder, progress)


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
        postings, docs, total_len, unsorted, weights_avgdl = con.execute(
            load("corpus/index_state")
        ).fetchone()
        self.postings, self.unsorted = postings, unsorted or 0
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
    view's dictionaries and written by one multi-statement script: index_docs.sql's score of
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
    }
    # Numbers go into the script as literals: each registered table costs a registration and a scan.
    df_changes = [(terms[t][0], d) for t, d in df_delta.items() if t not in fresh] or [(-1, 0)]
    for name, table in tables.items():
        con.register(name, table)
    try:
        con.execute(
            render(
                load("corpus/append_new"),
                weights_avgdl="NULL::DOUBLE"
                if view.weights_avgdl is None
                else number_literal(view.weights_avgdl),
                df_changes=", ".join(f"({number_literal(t)}, {number_literal(d)})" for t, d in df_changes),
                docs=number_literal(view.docs + len(docs)),
                total_len=number_literal(total_len),
            )
        )
    finally:
        for name in tables:
            con.unregister(name)
    postings = view.postings + len(rows["new_postings"])
    unsorted, weights_avgdl = record_index_state(
        con,
        corpus_bytes,
        appended=len(rows["new_postings"]) if view.docs else 0,
        settle=False,
        known=(postings, view.docs + len(docs), total_len, view.unsorted, view.weights_avgdl),
    )
    updated = copy.copy(view)
    updated.postings, updated.unsorted = postings, unsorted
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
