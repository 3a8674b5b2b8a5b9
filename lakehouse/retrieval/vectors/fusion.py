"""Fusing the BM25 and vector rankings of hybrid retrieval, and the stored weight of the fusion.

Two fusions (``--fusion``):

- ``cc`` (default), a convex combination of normalised scores, which Bruch, Gai and Ingber ("An
  Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 2023) measured to beat reciprocal
  rank fusion in and out of domain. Each side is normalised by its theoretical minimum and the
  query's best score (their TM2C2): BM25 ``s / max``, cosine similarity ``(s + 1) / (max + 1)``.
  BM25's documents that the vector search did not return get their cosine similarity computed
  exactly (a fill-in); a document BM25 did not return scores its minimum (0). The fused score is
  ``w * lexical + (1 - w) * semantic`` with ``w`` the lexical weight: calibrated per corpus by
  :mod:`lakehouse.retrieval.vectors.tuning` and kept in the catalog (``fusion_weights``), else
  ``DEFAULT_LEXICAL_WEIGHT``.
- ``rrf``, reciprocal rank fusion (Cormack et al.): ``sum of 1 / (60 + rank)``, equal weights.
  Measured on real text (BENCHMARKS.md, retrieval quality) it loses to BM25 alone on keyword
  queries: a document low in both lists outscores BM25's first hit that the vectors missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import CatalogError, UsageError
from lakehouse.core.sqlfiles import load

FUSIONS = ("cc", "rrf")
RRF_K = 60  # reciprocal rank fusion's constant: score = sum of 1 / (60 + rank)
# Before a corpus is calibrated: the lexical weight that held both query sets of the retrieval-quality
# benchmark (BENCHMARKS.md); the calibration replaces it per corpus and embedding model.
DEFAULT_LEXICAL_WEIGHT = 0.7
COSINE_MIN = -1.0  # the theoretical minimum of cosine similarity
Fused = list[tuple[str, float, tuple[str, ...]]]  # (rag_id, fused score, methods that found it)


def check_fusion(fusion: str) -> None:
    if fusion not in FUSIONS:
        raise UsageError(f"fusion {fusion!r}: choose one of {', '.join(FUSIONS)}")


def reciprocal_rank_fusion(rankings: dict[str, list[str]], k: int) -> Fused:
    """The best k by reciprocal rank, best first, ties by rag_id."""
    scores: dict[str, float] = {}
    found_by: dict[str, list[str]] = {}
    for method, ranking in rankings.items():
        for rank, rag_id in enumerate(ranking, start=1):
            scores[rag_id] = scores.get(rag_id, 0.0) + 1.0 / (RRF_K + rank)
            found_by.setdefault(rag_id, []).append(method)
    best = sorted(scores, key=lambda r: (-scores[r], r))[:k]
    return [(r, scores[r], tuple(found_by[r])) for r in best]


def _normalised(scored: Sequence[tuple[str, float]], minimum: float) -> dict[str, float]:
    """Scores mapped to [0, 1] by the theoretical minimum and the best score of this list."""
    if not scored:
        return {}
    top = max(score for _, score in scored)
    span = top - minimum
    if span <= 0:
        return {rag_id: 1.0 for rag_id, _ in scored}
    return {rag_id: max(0.0, (score - minimum) / span) for rag_id, score in scored}


def convex_combination(
    lexical: Sequence[tuple[str, float]],
    semantic: Sequence[tuple[str, float]],
    lexical_weight: float,
    k: int,
    filled: Sequence[tuple[str, float]] = (),
) -> Fused:
    """The best k of ``w * BM25 + (1 - w) * cosine``, each normalised; best first, ties by rag_id.

    ``lexical``: (rag_id, BM25 score); ``semantic``: (rag_id, cosine similarity) of the vector search's
    answer; ``filled``: the cosine similarity of documents it did not return (BM25's), which score as
    such rather than as the minimum but are not counted as found by the vectors.
    """
    lex = _normalised(lexical, 0.0)
    sem = _normalised([*semantic, *filled], COSINE_MIN)
    by_vector = {rag_id for rag_id, _ in semantic}
    scores = {
        rag_id: lexical_weight * lex.get(rag_id, 0.0) + (1.0 - lexical_weight) * sem.get(rag_id, 0.0)
        for rag_id in lex.keys() | by_vector
    }
    best = sorted(scores, key=lambda r: (-scores[r], r))[:k]
    methods = (("bm25", lex.keys()), ("vector", by_vector))
    return [(r, scores[r], tuple(m for m, found in methods if r in found)) for r in best]


def fuse(
    fusion: str,
    lexical: Sequence[tuple[str, float]],
    semantic: Sequence[tuple[str, float]],
    k: int,
    lexical_weight: float = DEFAULT_LEXICAL_WEIGHT,
    filled: Sequence[tuple[str, float]] = (),
) -> Fused:
    """Fuse BM25's and the vectors' answers (``filled``: see :func:`convex_combination`; rrf ranks alone)."""
    if fusion == "rrf":
        rankings = {"bm25": [r for r, _ in lexical], "vector": [r for r, _ in semantic]}
        return reciprocal_rank_fusion(rankings, k)
    return convex_combination(lexical, semantic, lexical_weight, k, filled)


# -- the stored weight ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FusionWeight:
    model: str
    lexical_weight: float
    corpus_version: str | None
    documents: int
    queries: int
    objective: float  # the calibration's mean reciprocal rank at this weight


def stored_weight(con: duckdb.DuckDBPyConnection, model: str) -> FusionWeight | None:
    """The latest calibrated weight for an embedding model (None when the corpus was never calibrated)."""
    try:
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'fusion_weights' "
            "AND database_name = current_database()"
        ).fetchone()[0]
        if not exists:
            return None
        row = con.execute(load("vectors/fusion_weight"), {"model": model}).fetchone()
    except duckdb.Error as exc:
        raise CatalogError(f"cannot read the fusion weight: {db.one_line(exc)}") from exc
    return FusionWeight(model, *row) if row else None


def store_weight(con: duckdb.DuckDBPyConnection, weight: FusionWeight) -> None:
    try:
        con.execute(load("vectors/fusion_schema"))
        con.execute(
            load("vectors/fusion_store"),
            {
                "model": weight.model,
                "lexical_weight": weight.lexical_weight,
                "corpus_version": weight.corpus_version,
                "documents": weight.documents,
                "queries": weight.queries,
                "objective": weight.objective,
            },
        )
    except duckdb.Error as exc:
        raise CatalogError(f"cannot store the fusion weight: {db.one_line(exc)}") from exc
