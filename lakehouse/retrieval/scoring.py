"""BM25 scoring: one DuckDB statement per search over the postings the index built.

Scoring: BM25 with k1 = 1.2, b = 0.75 and idf = log10((N - df + 0.5) / (df + 0.5) + 1), exactly as
fts. The query's terms are joined to the postings; while the stored weights hold (see
``IndexView.weights_current``) a query sums idf * w, else it computes the weight from tf and len.
A connection asks a query shape by one-shot SQL first and prepares it at its third use on one
index view (``_top``); ties at the cut are broken by rag_id.
"""

from __future__ import annotations

import weakref

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import CatalogError
from lakehouse.core.sqlfiles import constant_list, load, number_literal, render
from lakehouse.core.types import Hit
from lakehouse.retrieval.index import IndexView, query_terms

TIE_MARGIN = 1e-9
# A scoring query returns this many rows past k: a tie across the cut that ends among them is
# broken by rag_id from those rows, without a second query for every tied document.
TIE_LOOKAHEAD = 8
PREPARE_ON_USE = 3  # a connection prepares a query shape at its third use on one view (see _top)


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
        literals = {t: (number_literal(t), number_literal(idf)) for n in rows for t, idf in weights[n]}
        dfs = dict(view.terms[t] for terms, _ in queries for t in terms if t in view.terms)
        sql = render(
            load("corpus/search_batch"),
            query_terms=", ".join(
                f"({n}, {literals[term_id][0]}, {literals[term_id][1]})"
                for n in rows
                for term_id, _ in weights[n]
            ),
            terms_filter=_terms_filter(view, {t: (literals[t][0], dfs[t]) for t in sorted(literals)}),
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


def _terms_filter(view: IndexView, batch_terms: dict[int, tuple[str, int]]) -> str:
    """search_batch.sql's ``terms_filter``: an IN list of the batch's term ids where it would skip at least
    half of the postings' row groups, else nothing (the join with the query terms filters alike).

    ``batch_terms`` maps each term id to its literal and df. An IN list of a few dozen ids is a hash
    join over every posting scanned: it pays only by the row groups it skips, and a batch's terms, a
    common one among them, often touch nearly all (the load benchmark's 2,000-5,000 documents: 14-17
    row groups, 13 of 14 read; the list cost 0.7-1 ms of a 4.2-7.5 ms batch, the same rows).
    """
    row_groups = view.postings / db.ROW_GROUP_SIZE
    touched = sum(df / db.ROW_GROUP_SIZE + 1 for _, df in batch_terms.values())  # at most: sorted by term
    if touched > row_groups / 2:
        return ""
    return f"WHERE p.term_id IN ({', '.join(literal for literal, _ in batch_terms.values())})"


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
    else:
        rows = rows[:k]  # no tie across the cut: the first k by score are the top k
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
