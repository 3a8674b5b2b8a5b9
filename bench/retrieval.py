"""BM25 top-5 over a 100k-document corpus: lakehouse's postings query against DuckDB fts's match_bm25.

Targets (PRODUCT.md §9): p50 ≤ 3 ms, ≥ 15× faster than match_bm25 in the same run, the same top-5.
Known-item success@5: queries made of a few words of one document; does it come back in the top 5?

    python bench/retrieval.py --docs 100000 --queries 200 --json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from lakehouse import retrieval
from lakehouse.core import db
from lakehouse.core.types import Document

T = TypeVar("T")

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "ta",
    "po",
    "shi",
    "ven",
    "dra",
    "qui",
    "zel",
    "mor",
    "bex",
    "tal",
    "fin",
]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


# The most frequent words of English text are stop words; content words follow them in a Zipf curve.
STOP_HEAD = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "an",
    "but",
    "not",
    "have",
    "has",
    "which",
    "you",
    "all",
    "can",
    "if",
    "will",
    "when",
    "then",
    "there",
    "their",
    "they",
    "we",
    "one",
    "so",
    "out",
    "up",
]


def make_corpus(count: int, seed: int) -> list[Document]:
    rng = random.Random(seed)
    vocab = STOP_HEAD + vocabulary(30_000, rng)
    weights = [1 / (rank + 1) for rank in range(len(vocab))]  # Zipf-like, as real text
    docs = []
    for i in range(count):
        words = rng.choices(vocab, weights, k=rng.randint(30, 90))
        docs.append(Document(f"rag:doc-{i:06d}", " ".join(words[:5]), " ".join(words[5:])))
    return docs


def known_item_queries(docs: list[Document], count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed + 1)
    queries = []
    stop = set(STOP_HEAD)
    for doc in rng.sample(docs, count):
        words = sorted({w for w in (doc.title + " " + doc.text).split() if w not in stop})
        queries.append((" ".join(rng.sample(words, min(4, len(words)))), doc.rag_id))
    return queries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


REFERENCE_SQL = (
    "SELECT rag_id, s FROM (SELECT rag_id, fts_main_ref.match_bm25(rag_id, $q) AS s FROM ref) "
    "WHERE s IS NOT NULL ORDER BY s DESC, rag_id LIMIT $k"
)


def measure(
    con: duckdb.DuckDBPyConnection, view: retrieval.IndexView, docs: list[Document], args: argparse.Namespace
):
    queries = known_item_queries(docs, args.queries, seed=3)
    ours_ms, ref_ms, same_top, ours_hit, ref_hit = [], [], 0, 0, 0
    retrieval.search(con, "warm up", args.k, view)
    for query, target in queries:
        hits = timed(ours_ms, retrieval.search, con, query, args.k, view)
        ref = timed(ref_ms, reference, con, query, args.k)
        same_top += [h.rag_id for h in hits] == [r[0] for r in ref]
        ours_hit += target in {h.rag_id for h in hits}
        ref_hit += target in {r[0] for r in ref}
    return ours_ms, ref_ms, same_top, ours_hit, ref_hit, queries


def measure_back_to_back(
    con: duckdb.DuckDBPyConnection, view: retrieval.IndexView, queries: list[tuple[str, str]], k: int
) -> tuple[list[float], list[float]]:
    """Each method's queries in a row (warm caches): context for the interleaved figures, not the target's measure."""
    ours_ms: list[float] = []
    ref_ms: list[float] = []
    for query, _ in queries:
        timed(ours_ms, retrieval.search, con, query, k, view)
    for query, _ in queries:
        timed(ref_ms, reference, con, query, k)
    return ours_ms, ref_ms


def timed(into: list[float], fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, its milliseconds appended to ``into``."""
    start = time.perf_counter()
    result = fn(*args)
    into.append((time.perf_counter() - start) * 1000)
    return result


def reference(con: duckdb.DuckDBPyConnection, query: str, k: int) -> list[tuple]:
    return con.execute(REFERENCE_SQL, {"q": query, "k": k}).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    docs = make_corpus(args.docs, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lakehouse.duckdb"
        with db.catalog(path) as con:  # a write connection, as lakehouse's own
            retrieval.prepare(con)
            start = time.perf_counter()
            retrieval.index_and_record(con, docs, corpus_bytes=0, settle=True)  # as `lakehouse corpus add`
            index_s = time.perf_counter() - start
            start = time.perf_counter()
            con.execute("CREATE TABLE ref AS SELECT rag_id, title || ' ' || text AS body FROM rag_corpus")
            con.execute("PRAGMA create_fts_index('ref', 'rag_id', 'body')")
            fts_index_s = time.perf_counter() - start
        with db.catalog(path, read_only=True) as con:  # as a replay's searcher reads it
            db.load_extension(con, "fts")
            start = time.perf_counter()
            view = retrieval.IndexView(con)
            view_s = time.perf_counter() - start
            ours_ms, ref_ms, same_top, ours_hit, ref_hit, queries = measure(con, view, docs, args)
            ours_warm_ms, ref_warm_ms = measure_back_to_back(con, view, queries, args.k)
        result = {
            "benchmark": "retrieval",
            "docs": args.docs,
            "queries": len(queries),
            "k": args.k,
            "index_s": round(index_s, 2),
            "fts_index_s": round(fts_index_s, 2),
            "searcher_load_s": round(view_s, 3),
            "ours_p50_ms": round(statistics.median(ours_ms), 3),
            "ours_p95_ms": round(percentile(ours_ms, 0.95), 3),
            "match_bm25_p50_ms": round(statistics.median(ref_ms), 3),
            "match_bm25_p95_ms": round(percentile(ref_ms, 0.95), 3),
            "speedup_p50": round(statistics.median(ref_ms) / statistics.median(ours_ms), 1),
            "back_to_back_p50_ms": {
                "ours": round(statistics.median(ours_warm_ms), 3),
                "match_bm25": round(statistics.median(ref_warm_ms), 3),
                "speedup": round(statistics.median(ref_warm_ms) / statistics.median(ours_warm_ms), 1),
            },
            "same_top_k": f"{same_top}/{len(queries)}",
            "success_at_k_ours": round(ours_hit / len(queries), 3),
            "success_at_k_match_bm25": round(ref_hit / len(queries), 3),
            "targets": {"ours_p50_ms": 3.0, "speedup_p50": 15},
            "machine": machine(),
        }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
