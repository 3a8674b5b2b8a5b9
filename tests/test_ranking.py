"""BM25 ranking as fts ranks it: scores, ties, prepared and batched scoring, incremental adds, stored weights."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import varied_documents

from lakehouse import retrieval
from lakehouse.core import db
from lakehouse.core.paths import Layout
from lakehouse.core.types import Document
from lakehouse.retrieval import corpus

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("settled", [True, False], ids=["stored-weights", "weights-from-tf-and-len"])
def test_ranking_and_scores_equal_fts_match_bm25(settled: bool) -> None:
    texts = [
        (
            "rag:flaky",
            "Stabilise a flaky test",
            "Re-run the flaky test in isolation; check shared state between tests.",
        ),
        (
            "rag:mig",
            "Ship a database migration",
            "Add the index concurrently, backfill in batches, test the plan.",
        ),
        (
            "rag:leak",
            "Hunt a memory leak",
            "Capture heap profiles; diff allocations; caches without bounds leak.",
        ),
        (
            "rag:tls",
            "Rotate TLS certificates",
            "Inventory expiring certificates and deploy new ones with overlap.",
        ),
        ("rag:ci", "Speed up CI", "Cache dependencies, split the test suite, run flaky tests last."),
        ("rag:oncall", "On-call handover", "Write down open incidents, flaky alerts and pending migrations."),
    ]
    con = duckdb.connect()
    try:
        db.configure(con)
        retrieval.prepare(con)
        docs = [Document(r, t, x) for r, t, x in texts]
        if settled:  # as every update outside a long-lived searcher: postings weighed at the current mean
            retrieval.index_and_record(con, docs, 0, settle=True)
        else:  # documents added after the first ones were weighed: the mean moved, w is read from tf and len
            retrieval.index_and_record(con, docs[:2], 0, settle=True)
            retrieval.index_and_record(con, docs[2:], 0, settle=False)
        assert (retrieval.IndexView(con).tf_part("avgdl") == "w") == settled
        con.execute("CREATE TABLE ref AS SELECT rag_id, title || ' ' || text AS body FROM rag_corpus")
        con.execute("PRAGMA create_fts_index('ref', 'rag_id', 'body')")
        for query in [
            "flaky tests",
            "database migration index",
            "memory leaks in caches",
            "certificates",
            "the flaky migration tests",
            "nothing matches this",
        ]:
            ours = [(h.rag_id, round(h.score, 9)) for h in retrieval.search(con, query, 10)]
            ref = con.execute(
                "SELECT rag_id, round(s, 9) FROM (SELECT rag_id, fts_main_ref.match_bm25(rag_id, ?) AS s FROM ref) "
                "WHERE s IS NOT NULL ORDER BY s DESC, rag_id",
                [query],
            ).fetchall()
            assert ours == ref, query
    finally:
        con.close()


def fts_ranking(con: duckdb.DuckDBPyConnection, query: str, k: int) -> list[tuple[str, float]]:
    con.execute("CREATE OR REPLACE TABLE ref AS SELECT rag_id, title || ' ' || text AS body FROM rag_corpus")
    con.execute("PRAGMA create_fts_index('ref', 'rag_id', 'body', overwrite = 1)")
    return con.execute(
        "SELECT rag_id, round(s, 9) FROM (SELECT rag_id, fts_main_ref.match_bm25(rag_id, ?) AS s FROM ref) "
        "WHERE s IS NOT NULL ORDER BY s DESC, rag_id LIMIT ?",
        [query, k],
    ).fetchall()


@pytest.mark.parametrize(
    "text",
    [
        "Flaky TESTS, in CI!",
        "a-b_c/d\\e|f'g\"h`i~j",
        "tabs\tand\nnew\r\nlines\fform",
        "digits123between456words",
        "  leading and trailing  ",
        "vertical\x0btab stays inside",
        "Café naïve résumé",
        "",
    ],
)
def test_python_tokenizer_equals_the_sql_macro(text: str) -> None:
    con = duckdb.connect()
    try:
        retrieval.prepare(con)
        (sql_tokens,) = con.execute("SELECT lh_tokenize(?)", [text]).fetchone()
        assert retrieval.tokenize(con, text) == [t for t in sql_tokens if t]
    finally:
        con.close()


# fts's tokenizer as DuckDB's fts extension writes it: punctuation and digits replaced by a space, then
# split on white space. lh_tokenize does both in one split; the tokens must be the same.
FTS_TOKENS = (
    "string_split_regex(regexp_replace(lower(strip_accents(CAST(? AS VARCHAR))), "
    "'[0-9!@#$%^&*()_+={}\\[\\]:;<>,.?~\\\\/\\|''\"`-]+', ' ', 'g'), '\\s+')"
)


TEXTS = st.text(
    alphabet=st.sampled_from("aZé ñ\t\n\r\f\x0b-_.,'\"`/\\|!?09[]{}~^&*()=+<>;:@#$%Ü"), max_size=24
)


@settings(max_examples=40, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=40))
def test_the_tokenizer_macro_splits_as_fts(texts: list[str]) -> None:
    con = duckdb.connect()
    try:
        retrieval.prepare(con)
        for text in texts:
            (ours,) = con.execute("SELECT lh_tokenize(?)", [text]).fetchone()
            (fts,) = con.execute(f"SELECT {FTS_TOKENS}", [text]).fetchone()
            assert ours == fts, text
    finally:
        con.close()


def test_incremental_adds_replacements_and_resorts_rank_as_fts(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrieval.index, "SORT_AFTER_ROWS", 5)  # re-sort after a few single-document adds
    monkeypatch.setattr(retrieval.index, "SETTLE_MAX_POSTINGS", 0)  # and only then, as for a large index:
    # between re-sorts, queries compute the weights the appended postings hold at an older mean
    words = [
        "flaky",
        "test",
        "cache",
        "index",
        "migration",
        "leak",
        "certificate",
        "deploy",
        "rollback",
        "queue",
    ]
    for i in range(40):
        body = " ".join(words[(i * 7 + j) % len(words)] for j in range(3 + i % 5))
        retrieval.add_documents(layout, [Document(f"rag:d{i:02d}", f"doc {i}", body)], corpus.AddReport())
    # A new version of an existing document replaces its postings and df.
    retrieval.add_documents(
        layout, [Document("rag:d03", "doc 3", "rollback rollback queue")], corpus.AddReport()
    )
    with db.catalog(layout.catalog) as con:
        retrieval.prepare(con)
        (unsorted,) = con.execute("SELECT unsorted_postings FROM rag_index_state").fetchone()
        (postings,) = con.execute("SELECT count(*) FROM rag_postings").fetchone()
        assert unsorted <= postings // 10 + 8  # re-sorted along the way, not all appended rows unsorted
        (weights_avgdl,) = con.execute("SELECT weights_avgdl FROM rag_index_state").fetchone()
        assert weights_avgdl is not None  # and re-weighed when re-sorted
        (docs,) = con.execute("SELECT count(*) FROM rag_corpus").fetchone()
        assert docs == 40
        for query in ["rollback queue", "flaky cache", "certificate deploy index", "leak"]:
            ours = [(h.rag_id, round(h.score, 9)) for h in retrieval.search(con, query, 5)]
            assert ours == fts_ranking(con, query, 5), query


def test_prepared_scoring_follows_the_index_as_it_grows() -> None:
    # Statements prepared for 1 to 9 query terms (1, 2, 4, 8 and 16 slots) on 12 documents, then
    # documents with doc_ids and terms beyond the statistics those plans were made with. fts ranks
    # on a second database: its index would change this one's catalog, and DuckDB plans every
    # prepared statement again after a catalog change.
    words = ["deploy", "rollback", "queue", "leak", "cache", "timeout", "index", "shard", "quorum"]
    small = [" ".join(words[:n]) for n in range(1, len(words) + 1)]
    grown = [f"{query} zebra" for query in small]
    first = varied_documents("a", 12, "quorum")
    more = [*varied_documents("b", 400, "zebra"), Document("rag:zz", "zebra quorum", "shard")]
    con, reference = duckdb.connect(), duckdb.connect()
    try:
        for c in (con, reference):
            db.configure(c)
            retrieval.prepare(c)
            retrieval.index_documents(c, first)
        view = retrieval.IndexView(con)

        def ours(queries: list[str]) -> list[list[tuple[str, float]]]:
            # Each query as often as it takes to be prepared, and once more: every answer the same.
            answers = [
                [[(h.rag_id, round(h.score, 9)) for h in retrieval.search(con, q, 5, view)] for q in queries]
                for _ in range(retrieval.PREPARE_ON_USE + 1)
            ]
            assert all(a == answers[0] for a in answers)
            return answers[0]

        assert ours(small) == [fts_ranking(reference, q, 5) for q in small]
        view = retrieval.append_new_documents(con, view, more, 0)
        retrieval.index_documents(reference, more)
        assert ours(grown) == [fts_ranking(reference, q, 5) for q in grown]
    finally:
        con.close()
        reference.close()


@pytest.mark.parametrize("postings_filtered", [False, True], ids=["join-filters", "in-list-filters"])
def test_queries_ranked_together_rank_as_each_alone(postings_filtered: bool) -> None:
    """A batch answers as each query alone, whether its postings scan is filtered by the batch's term ids
    (an index of many row groups) or only by the join with the query terms (a few row groups)."""
    docs = [
        *varied_documents("a", 40, "quorum"),
        *(Document(f"rag:same-{i}", "", "identical rollback queue words") for i in reversed(range(6))),
    ]
    asked = [
        ("deploy rollback", 5),
        ("identical rollback queue", 3),  # six documents tie across the cut
        ("quorum", 1),
        ("leak cache-miss v2 café", 10),
        ("unknownword", 5),  # no index term: no hits
        ("deploy", 0),
        ("rollback queue", 7),
    ]
    con = duckdb.connect()
    try:
        db.configure(con)
        retrieval.prepare(con)
        retrieval.index_documents(con, docs)
        view = retrieval.IndexView(con)
        if postings_filtered:  # as if the postings were many row groups: the batch's terms touch few
            view.postings = 1_000 * db.ROW_GROUP_SIZE
        queries = [(retrieval.query_terms(con, q, view.stems), k) for q, k in asked]
        term_id, df = view.terms[queries[0][0][0]]
        assert retrieval.scoring._terms_filter(view, {term_id: (str(term_id), df)}).startswith("WHERE") == (
            postings_filtered
        )
        together = retrieval.ranked_many(con, view, queries)
        alone = [retrieval.ranked(con, view, terms, k) for terms, k in queries]
        assert together == alone
        assert [[(h.rag_id, round(h.score, 9)) for h in hits] for hits in together[:4]] == [
            fts_ranking(con, q, k) for q, k in asked[:4]
        ]
        assert [h.rag_id for h in together[1]] == ["rag:same-0", "rag:same-1", "rag:same-2"]
        assert together[4] == [] and together[5] == [] and len(together[3]) == 10
    finally:
        con.close()


def test_concurrent_searches_are_scored_together_and_answer_as_alone(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    retrieval.add_documents(layout, varied_documents("a", 60, "quorum"), corpus.AddReport())
    queries = ["deploy rollback", "quorum leak", "café", "queue and cache-miss", "v2 deploy", "naïve"]
    with retrieval.Searcher(layout) as searcher:
        expected = {q: searcher.search(q, 4)[0] for q in queries}
        real_ranked, real_many = retrieval.ranked, retrieval.ranked_many
        batches: list[int] = []

        def lone_query_waits_for_a_queue(*args: object, **kwargs: object) -> list[retrieval.Hit]:
            deadline = time.monotonic() + 5
            while len(searcher._searches._queue) < 3 and time.monotonic() < deadline:
                time.sleep(0.005)  # the others queue up meanwhile
            return real_ranked(*args, **kwargs)  # type: ignore[arg-type]

        def counted(*args: object, **kwargs: object) -> list[list[retrieval.Hit]]:
            batches.append(len(args[2]))  # type: ignore[arg-type]
            return real_many(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(retrieval.scoring, "ranked", lone_query_waits_for_a_queue)
        monkeypatch.setattr(retrieval.scoring, "ranked_many", counted)
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda q: (q, searcher.search(q, 4)[0]), queries * 4))
    assert batches and max(batches) >= 3  # queued queries were scored by one statement
    assert all(hits == expected[q] for q, hits in answers)


def test_an_add_committed_under_a_prepared_search_does_not_break_it(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race of 50 replay threads and adds, made deterministic: the add commits documents with
    # doc_ids beyond the prepared plan's statistics after the search has read its view.
    query = "deploy rollback queue"
    retrieval.add_documents(layout, varied_documents("a", 12, "quorum"), corpus.AddReport())
    more = varied_documents("b", 400, "zebra")
    real_ranked = retrieval.ranked
    with retrieval.Searcher(layout, writable=True) as searcher:
        for _ in range(retrieval.PREPARE_ON_USE):
            searcher.search(query, 5)  # prepared by now

        def add_meanwhile(*args: object, **kwargs: object) -> list[retrieval.Hit]:
            if more:
                searcher.add([more.pop() for _ in range(len(more))], corpus.AddReport())
            return real_ranked(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(retrieval.scoring, "ranked", add_meanwhile)
        hits, _ = searcher.search(query, 5)
        monkeypatch.undo()
    with retrieval.Searcher(layout) as fresh:
        expected, _ = fresh.search(query, 5)
    assert not more and [(h.rag_id, h.score) for h in hits] == [(h.rag_id, h.score) for h in expected]
    assert any(h.rag_id.startswith("rag:b") for h in hits)  # the added documents were searched


def test_ties_at_the_cut_are_broken_by_rag_id_not_insertion_order(layout: Layout) -> None:
    # Identical documents score the same; added one by one in reverse id order, so doc_id order is
    # the opposite. The whole tie is among the rows a query returns past k.
    for i in reversed(range(8)):
        retrieval.add_documents(
            layout, [Document(f"rag:same-{i}", "", "identical words here")], corpus.AddReport()
        )
    with retrieval.Searcher(layout) as searcher:
        hits, _ = searcher.search("identical words", 3)
    assert [h.rag_id for h in hits] == ["rag:same-0", "rag:same-1", "rag:same-2"]


def test_a_tie_longer_than_the_rows_at_hand_is_asked_for_whole(layout: Layout) -> None:
    for i in reversed(range(30)):  # one add each, so doc_id order is the opposite of rag_id order
        retrieval.add_documents(
            layout, [Document(f"rag:same-{i:02d}", "", "identical words here")], corpus.AddReport()
        )
    with retrieval.Searcher(layout) as searcher:
        hits, _ = searcher.search("identical words", 3)
    assert 3 + retrieval.TIE_LOOKAHEAD < 30  # the tie goes on past the rows a query returns
    assert [h.rag_id for h in hits] == ["rag:same-00", "rag:same-01", "rag:same-02"]


def test_settled_postings_hold_their_weights_and_score_as_computed_ones() -> None:
    con = db.memory()
    try:
        retrieval.prepare(con)
        retrieval.index_and_record(con, varied_documents("a", 30, "quorum"), 0, settle=True)
        retrieval.index_and_record(con, varied_documents("b", 7, "zebra"), 0, settle=True)
        view = retrieval.IndexView(con)
        assert view.weights_avgdl == view.avgdl and view.tf_part("avgdl") == "w"
        (stale,) = con.execute(
            "SELECT count(*) FROM rag_postings WHERE w IS DISTINCT FROM lh_bm25_tf(tf, len, ?)", [view.avgdl]
        ).fetchone()
        assert stale == 0
        for query in ["deploy rollback", "zebra", "quorum queue", "café leak"]:  # at most two terms each:
            terms = retrieval.query_terms(con, query, view.stems)  # sums in any order, the same bits
            stored = retrieval.ranked(con, view, terms, 10)
            computed = retrieval.ranked(con, view, terms, 10, fresh=True)
            assert stored and stored == computed, query
        # An add through a long-lived searcher's path moves the mean: queries compute the weights.
        view = retrieval.append_new_documents(con, view, varied_documents("c", 5, "walrus"), 0)
        assert view.weights_avgdl != view.avgdl and view.tf_part("avgdl") != "w"
        assert [(h.rag_id, round(h.score, 9)) for h in retrieval.search(con, "walrus deploy", 5, view)] == (
            fts_ranking(con, "walrus deploy", 5)
        )
    finally:
        con.close()


def test_an_index_without_stored_weights_is_rebuilt(layout: Layout) -> None:
    retrieval.add_documents(layout, varied_documents("a", 20, "quorum"), corpus.AddReport())
    with db.catalog(layout.catalog) as con:  # as an earlier version left it
        con.execute("ALTER TABLE rag_postings DROP COLUMN w")
        con.execute("ALTER TABLE rag_index_state DROP COLUMN weights_avgdl")
    with retrieval.Searcher(layout) as searcher:
        hits, _ = searcher.search("quorum deploy", 3)
    assert len(hits) == 3
    with db.catalog(layout.catalog, read_only=True) as con:
        (weighed,) = con.execute("SELECT count(*) FROM rag_postings WHERE w IS NOT NULL").fetchone()
        (postings,) = con.execute("SELECT count(*) FROM rag_postings").fetchone()
    assert weighed == postings > 0


INDEX_TABLES = {
    "rag_corpus": "SELECT doc_id, rag_id, title, text, tags, content_sha, doc_len FROM rag_corpus ORDER BY doc_id",
    "rag_postings": "SELECT * FROM rag_postings ORDER BY term_id, doc_id",
    "rag_terms": "SELECT * FROM rag_terms ORDER BY term_id",
    "rag_tokens": "SELECT * FROM rag_tokens ORDER BY token",
    "rag_stats": "SELECT * FROM rag_stats",
}


@contextlib.contextmanager
def two_indexes() -> Iterator[tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]]:
    """Two empty in-memory indexes, to build the same documents two ways and compare."""
    first, second = db.memory(), db.memory()
    try:
        for con in (first, second):
            retrieval.prepare(con)
        yield first, second
    finally:
        first.close()
        second.close()


def test_new_documents_appended_from_python_equal_what_index_docs_sql_writes() -> None:
    base, new = varied_documents("a", 12, "timeout"), varied_documents("b", 9, "brandnewword")
    with two_indexes() as (sql_con, python_con):
        for con in (sql_con, python_con):
            retrieval.index_and_record(con, base, 100, settle=True)
        retrieval.index_and_record(sql_con, new, 200, settle=False)
        view = retrieval.append_new_documents(python_con, retrieval.IndexView(python_con), new, 200)
        for name, query in INDEX_TABLES.items():
            assert python_con.execute(query).fetchall() == sql_con.execute(query).fetchall(), name
        fresh = retrieval.IndexView(python_con)
        assert (view.docs, view.avgdl, view.weights_avgdl, view.terms, view.names) == (
            fresh.docs,
            fresh.avgdl,
            fresh.weights_avgdl,
            fresh.terms,
            fresh.names,
        )
        assert (view.next_doc_id, view.next_term_id) == (fresh.next_doc_id, fresh.next_term_id)
        for query in ["brandnewword deploy", "café naive", "queue leak timeout"]:
            assert retrieval.search(python_con, query, 5, view) == retrieval.search(sql_con, query, 5)


# The index's rows with terms by name: term ids follow the order terms came in, which differs between the two.
INDEX_BY_TERM = {
    "rag_corpus": INDEX_TABLES["rag_corpus"],
    "rag_postings": "SELECT t.term, p.doc_id, p.tf, p.len FROM rag_postings AS p JOIN rag_terms AS t USING (term_id) "
    "ORDER BY t.term, p.doc_id",
    "rag_terms": "SELECT term, df FROM rag_terms WHERE df > 0 ORDER BY term",  # a replaced version's last use: df 0
    "rag_stats": INDEX_TABLES["rag_stats"],
}


def test_replaced_documents_leave_the_index_that_their_final_versions_make_fresh() -> None:
    base = varied_documents("a", 12, "timeout")
    replacements = [
        Document(base[2].rag_id, "a 2 again", "quorum quorum leak deploy"),  # a new term, twice
        Document(base[5].rag_id, "", "the and"),  # stop words only: no postings, length 0
        Document(base[7].rag_id, base[7].title, f"{base[7].text} rollback rollback"),  # terms it had
        Document(base[9].rag_id, "", ""),  # nothing at all
    ]
    final = {d.rag_id: d for d in base} | {d.rag_id: d for d in replacements}
    with two_indexes() as (replaced, fresh):
        retrieval.index_and_record(replaced, base, 100, settle=True)
        retrieval.index_and_record(replaced, replacements, 200, settle=True)
        retrieval.index_and_record(fresh, list(final.values()), 200, settle=True)
        for name, query in INDEX_BY_TERM.items():
            assert replaced.execute(query).fetchall() == fresh.execute(query).fetchall(), name
        empty = replaced.execute("SELECT rag_id FROM rag_corpus WHERE doc_len = 0 ORDER BY rag_id").fetchall()
        assert empty == [(base[5].rag_id,), (base[9].rag_id,)]  # indexed, with nothing to find them by
        for query in ["quorum deploy", "rollback leak", "timeout café"]:
            assert retrieval.search(replaced, query, 5) == retrieval.search(fresh, query, 5)
