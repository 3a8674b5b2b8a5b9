"""Calibrating hybrid retrieval's fusion weight for one corpus, without labelled data.

Queries are sampled from the corpus's own documents, each knowing the document it came from:

- *keyword* queries: three rare words of the document (each in at least two documents, so a query
  is never a lookup of a unique word), what a user who remembers a term or an error types;
- *description* queries: a sentence of the document with its rare words left out, so that only
  its common words and its meaning lead back to it (what a question in other words has).

Both rankings are computed once per query (BM25 and vector, each ``HYBRID_DEPTH`` deep); then every
lexical weight of ``WEIGHTS`` is scored by the mean reciprocal rank (at 10) of each query's
document, averaged over the two kinds. Of the weights within ``TOLERANCE`` of the best score, the
lowest (the most semantic) wins: such queries share the document's own words, which flatters BM25.
It is stored in the catalog with the corpus version (:func:`fusion.store_weight`).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lakehouse.core import db
from lakehouse.core.errors import CatalogLockedError, UsageError
from lakehouse.core.paths import Layout
from lakehouse.core.types import Document
from lakehouse.retrieval import corpus, vectors
from lakehouse.retrieval.searcher import HYBRID_DEPTH, Searcher
from lakehouse.retrieval.vectors import fusion

SAMPLE_DOCUMENTS = 200  # documents queries are taken from (each gives one query of each kind)
MIN_DOCUMENTS = 20  # below this a calibration says nothing: the default weight stays
MIN_QUERIES = 20
WEIGHTS = tuple(i / 20 for i in range(21))  # lexical weights tried: 0, 0.05, ..., 1
RANK_CUTOFF = 10
TOLERANCE = 0.01  # weights whose mean reciprocal rank is this close to the best count as equally good
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{3,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class PseudoQuery:
    kind: str  # keyword | description
    text: str
    rag_id: str


def _words(doc: Document) -> set[str]:
    return {w.lower() for w in _WORD.findall(f"{doc.title} {doc.text}")}


def pseudo_queries(
    docs: Sequence[Document], sample: int = SAMPLE_DOCUMENTS, seed: int = 0
) -> list[PseudoQuery]:
    """Up to one keyword and one description query from each of ``sample`` documents (stable choice)."""
    words = {d.rag_id: _words(d) for d in docs}
    df: Counter[str] = Counter()
    for ws in words.values():
        df.update(ws)
    rare_below = max(3, len(docs) // 500)  # "rare": in at most 0.2 % of the documents
    chosen = sorted(docs, key=lambda d: hashlib.sha256(f"{seed}:{d.rag_id}".encode()).hexdigest())[:sample]
    queries: list[PseudoQuery] = []
    for doc in chosen:
        rng = random.Random(f"{seed}:{doc.rag_id}")
        rare = sorted(w for w in words[doc.rag_id] if 2 <= df[w] <= rare_below)
        if len(rare) >= 3:
            queries.append(PseudoQuery("keyword", " ".join(rng.sample(rare, 3)), doc.rag_id))
        description = _description(doc.text, df, rare_below, rng)
        if description:
            queries.append(PseudoQuery("description", description, doc.rag_id))
    return queries


def _description(text: str, df: Counter[str], rare_below: int, rng: random.Random) -> str | None:
    """A sentence of 6+ words with the rare ones removed (None when the document has none)."""
    sentences = [s for s in _SENTENCE.split(" ".join(text.split())) if len(s.split()) >= 6]
    if not sentences:
        return None
    kept = [w for w in rng.choice(sentences).split() if df[w.lower().strip(".,:;()'\"`")] > rare_below]
    return " ".join(kept[:16]) if len(kept) >= 3 else None


def reciprocal_rank(fused: fusion.Fused, rag_id: str) -> float:
    for rank, (found, _, _) in enumerate(fused[:RANK_CUTOFF], start=1):
        if found == rag_id:
            return 1.0 / rank
    return 0.0


def best_weight(
    candidates: Sequence[
        tuple[PseudoQuery, list[tuple[str, float]], list[tuple[str, float]], list[tuple[str, float]]]
    ],
) -> tuple[float, float]:
    """(lexical weight, its objective) maximising the mean reciprocal rank, averaged over query kinds."""
    kinds = sorted({q.kind for q, *_ in candidates})

    def objective(weight: float) -> float:
        per_kind = []
        for kind in kinds:
            ranks = [
                reciprocal_rank(fusion.convex_combination(lex, sem, weight, RANK_CUTOFF, filled), q.rag_id)
                for q, lex, sem, filled in candidates
                if q.kind == kind
            ]
            per_kind.append(sum(ranks) / len(ranks))
        return sum(per_kind) / len(per_kind)

    scored = {w: objective(w) for w in WEIGHTS}
    top = max(scored.values())
    # Queries drawn from a document's own words flatter BM25 (they share its exact vocabulary, which a
    # question in other words does not), so among weights as good as the best, the most semantic wins.
    chosen = min(w for w in WEIGHTS if scored[w] >= top - TOLERANCE)
    return chosen, scored[chosen]


def tune_fusion(
    layout: Layout, embedder: vectors.Embedder, progress: Callable[[int, int], None] | None = None
) -> fusion.FusionWeight:
    """Calibrate hybrid retrieval's fusion weight for this corpus and embedding model; store it."""
    with Searcher(layout, embedder=embedder) as searcher:
        if searcher.in_memory:
            raise CatalogLockedError(f"{searcher.warning}: the fusion cannot be calibrated now")
        tuned = tune(layout, searcher, progress)
    with db.catalog(layout.catalog) as con:  # after the searcher's read-only connection is closed
        fusion.store_weight(con, tuned)
    return tuned


def tune(
    layout: Layout, searcher: Searcher, progress: Callable[[int, int], None] | None = None
) -> fusion.FusionWeight:
    """Calibrate the fusion weight of the searcher's embedding model (:func:`tune_fusion` stores it)."""
    if searcher.vectors is None:
        raise UsageError("calibrating the fusion needs an embedding model: pass --embedding-model")
    docs = list(corpus.load(layout).values())
    if len(docs) < MIN_DOCUMENTS:
        raise UsageError(f"the corpus has {len(docs)} documents; calibrating needs at least {MIN_DOCUMENTS}")
    queries = pseudo_queries(docs)
    if len(queries) < MIN_QUERIES:
        raise UsageError(
            f"only {len(queries)} calibration queries could be taken from the corpus's {len(docs)} documents "
            f"(at least {MIN_QUERIES} are needed: documents with rare words and sentences of six words or more)"
        )
    candidates = []
    for done, query in enumerate(queries, start=1):
        candidates.append((query, *searcher.candidates(query.text, HYBRID_DEPTH)))
        if progress:
            progress(done, len(queries))
    weight, objective = best_weight(candidates)
    return fusion.FusionWeight(
        searcher.vectors.embedder.model, weight, corpus.version(layout), len(docs), len(queries), objective
    )
