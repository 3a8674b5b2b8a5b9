"""Hybrid retrieval's fusion (convex combination, reciprocal rank), its calibration, base64 embeddings,
and the vector index built when vectors are stored."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from stub_gateway import StubGateway
from support import invoke, lakehouse_command

from lakehouse import retrieval
from lakehouse.cli import cli
from lakehouse.core import db
from lakehouse.core.errors import EmbeddingError, UsageError
from lakehouse.core.paths import Layout
from lakehouse.gateway import Gateway
from lakehouse.retrieval import vectors

pytestmark = pytest.mark.fast
MODEL = "stub-embed"
TOPICS = ["database", "network", "compiler", "scheduler", "parser", "storage", "kernel", "browser"]


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    with StubGateway() as gateway:
        yield gateway


def corpus_file(tmp_path: Path, count: int = 60) -> Path:
    """Documents with shared and rare words, long enough to give calibration queries."""
    lines = []
    for i in range(count):
        topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i * 3 + 1) % len(TOPICS)]
        text = (
            f"The {topic} component handles requests from the {other} layer. "
            f"When the {topic} queue grows, operators restart worker{i % 7} and check quota{i % 11}. "
            f"Rare marker zeta{i} appears with token{i // 2} and flag{i // 3} in this note."
        )
        lines.append({"rag_id": f"rag:doc-{i:03d}", "title": f"{topic} note {i}", "text": text})
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def with_stub(runner: CliRunner, stub: StubGateway, *args: str) -> Any:
    """A corpus command with the stub's embedding model and URL."""
    return invoke(runner, *args, "--embedding-model", MODEL, "--gateway-url", stub.url)


def add(runner: CliRunner, root: Path, docs: Path, stub: StubGateway) -> str:
    root.mkdir(exist_ok=True)
    result = with_stub(runner, stub, "corpus", "add", str(docs), "--root", str(root))
    assert result.exit_code == 0, result.output
    return result.output


def stored_vectors(root: Path) -> list[tuple[str, list[float]]]:
    with db.catalog(root / "data" / "lakehouse.duckdb", read_only=True) as con:
        return con.execute("SELECT rag_id, vector::FLOAT[] FROM rag_vectors ORDER BY rag_id").fetchall()


# -- the fusions on hand-made score lists ----------------------------------------------------------

LEXICAL = [("a", 10.0), ("b", 5.0), ("c", 1.0)]
SEMANTIC = [("c", 0.9), ("d", 0.8), ("a", 0.1)]


def test_convex_combination_normalises_each_side_and_weights_them() -> None:
    fused = vectors.convex_combination(LEXICAL, SEMANTIC, 0.7, 10)
    # BM25 / its max; cosine (s + 1) / (max + 1); a side that did not return a document gives it 0.
    expected = {
        "a": 0.7 * 1.0 + 0.3 * (1.1 / 1.9),
        "b": 0.7 * 0.5,
        "c": 0.7 * 0.1 + 0.3 * 1.0,
        "d": 0.3 * (1.8 / 1.9),
    }
    assert [r for r, _, _ in fused] == ["a", "c", "b", "d"]
    assert {r: s for r, s, _ in fused} == pytest.approx(expected)
    assert {r: by for r, _, by in fused} == {
        "a": ("bm25", "vector"),
        "b": ("bm25",),
        "c": ("bm25", "vector"),
        "d": ("vector",),
    }


def test_the_weight_moves_the_ranking_between_the_two_sides() -> None:
    assert [r for r, _, _ in vectors.convex_combination(LEXICAL, SEMANTIC, 1.0, 4)] == ["a", "b", "c", "d"]
    assert [r for r, _, _ in vectors.convex_combination(LEXICAL, SEMANTIC, 0.0, 4)] == ["c", "d", "a", "b"]
    assert [r for r, _, _ in vectors.convex_combination(LEXICAL, SEMANTIC, 0.7, 2)] == ["a", "c"]


def test_ties_break_by_rag_id_and_one_empty_side_leaves_the_other_in_order() -> None:
    tied = vectors.convex_combination([("y", 2.0), ("x", 2.0)], [], 0.5, 5)
    assert [(r, s) for r, s, _ in tied] == [("x", 0.5), ("y", 0.5)]
    assert [r for r, _, _ in vectors.convex_combination([], SEMANTIC, 0.7, 5)] == ["c", "d", "a"]
    assert vectors.convex_combination([], [], 0.7, 5) == []


def test_filled_similarities_score_bm25s_documents_without_counting_as_found_by_the_vectors() -> None:
    """BM25's 'b' was not in the vector search's answer: its cosine, computed exactly, counts at its value."""
    fused = vectors.convex_combination(LEXICAL, SEMANTIC, 0.7, 10, filled=[("b", 0.5)])
    scores = {r: s for r, s, _ in fused}
    assert scores["b"] == pytest.approx(0.7 * 0.5 + 0.3 * (1.5 / 1.9))
    assert scores["a"] == pytest.approx(0.7 * 1.0 + 0.3 * (1.1 / 1.9))
    assert {r: by for r, _, by in fused}["b"] == ("bm25",)
    # A filled document that neither side returned is not a candidate.
    assert "z" not in {r for r, _, _ in vectors.convex_combination(LEXICAL, SEMANTIC, 0.7, 10, [("z", 0.99)])}
    # Reciprocal rank fusion ranks the vector search's answer alone: a fill-in changes nothing.
    assert vectors.fuse("rrf", LEXICAL, SEMANTIC, 4) == vectors.fuse(
        "rrf", LEXICAL, SEMANTIC, 4, 0.7, [("b", 0.5)]
    )


def test_reciprocal_rank_lets_a_document_low_in_both_lists_beat_bm25s_best_and_cc_does_not() -> None:
    """The failure the retrieval-quality benchmark measured: BM25's first hit, which the vectors missed,
    loses under RRF to a document near the bottom of both lists."""
    lexical = [("exact-hit", 12.0), ("l2", 3.0), ("l3", 2.9), ("l4", 2.8), ("weak", 2.7)]
    semantic = [("v1", 0.41), ("v2", 0.40), ("v3", 0.39), ("weak", 0.38)]
    rrf = vectors.fuse("rrf", lexical, semantic, 3)
    assert rrf[0][0] == "weak"
    assert rrf[0][1] == pytest.approx(1 / 65 + 1 / 64)
    cc = vectors.fuse("cc", lexical, semantic, 3, lexical_weight=0.7)
    assert cc[0][0] == "exact-hit"


def test_an_unknown_fusion_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="choose one of cc, rrf"):
        vectors.check_fusion("max")


# -- calibration -----------------------------------------------------------------------------------


def test_tune_fusion_stores_a_weight_that_the_next_query_uses(tmp_path: Path, stub: StubGateway) -> None:
    runner, root = CliRunner(), tmp_path / "root"
    add(runner, root, corpus_file(tmp_path), stub)
    result = with_stub(runner, stub, "corpus", "tune-fusion", "--root", str(root))
    assert result.exit_code == 0, result.output
    layout = Layout(root)
    with db.catalog(layout.catalog, read_only=True) as con:
        stored = vectors.stored_weight(con, MODEL)
    assert stored is not None
    assert f"lexical weight {stored.lexical_weight:g} for {MODEL}" in result.output
    assert stored.queries >= 20 and stored.documents == 60
    assert stored.corpus_version == retrieval.corpus.version(layout)
    assert 0.0 <= stored.lexical_weight <= 1.0

    with Gateway(stub.url) as gateway:
        embedder = vectors.Embedder(gateway, MODEL)
        query = "worker3 restart database queue"
        for weight, alone in ((1.0, "bm25"), (0.0, "vector")):
            with db.catalog(layout.catalog) as con:
                vectors.store_weight(con, vectors.FusionWeight(MODEL, weight, None, 60, 40, 0.5))
            with retrieval.Searcher(layout, embedder=embedder) as searcher:
                assert searcher.lexical_weight == weight
                hybrid, _ = searcher.retrieve(query, 5, "hybrid", "cc")
                single, _ = searcher.retrieve(query, 5, alone)
            # At weight 1 only BM25 counts, at 0 only the vectors: hybrid ranks as that side alone.
            assert [h.rag_id for h in hybrid] == [h.rag_id for h in single]


def test_a_corpus_never_calibrated_uses_the_default_weight(tmp_path: Path, stub: StubGateway) -> None:
    root = tmp_path / "root"
    add(CliRunner(), root, corpus_file(tmp_path, 10), stub)
    with (
        Gateway(stub.url) as gateway,
        retrieval.Searcher(Layout(root), embedder=vectors.Embedder(gateway, MODEL)) as s,
    ):
        assert s.lexical_weight == vectors.DEFAULT_LEXICAL_WEIGHT


def test_tune_fusion_on_a_tiny_corpus_says_why_it_cannot(tmp_path: Path, stub: StubGateway) -> None:
    runner, root = CliRunner(), tmp_path / "root"
    add(runner, root, corpus_file(tmp_path, 5), stub)
    result = runner.invoke(
        cli,
        ["corpus", "tune-fusion", "--root", str(root), "--embedding-model", MODEL, "--gateway-url", stub.url],
    )
    assert result.exit_code == 2
    assert "the corpus has 5 documents; calibrating needs at least 20" in result.output


# -- base64 embeddings -----------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["ignore", "refuse"])
def test_base64_and_float_responses_store_identical_vectors(
    tmp_path: Path, stub: StubGateway, server: str
) -> None:
    runner, docs = CliRunner(), corpus_file(tmp_path, 40)
    add(runner, tmp_path / "packed", docs, stub)
    packed_requests = [r["body"] for r in stub.requests if r["path"].endswith("/v1/embeddings")]
    assert packed_requests and all(b.get("encoding_format") == "base64" for b in packed_requests)
    stub.requests.clear()
    stub.base64 = server
    add(runner, tmp_path / "floats", docs, stub)
    packed, floats = stored_vectors(tmp_path / "packed"), stored_vectors(tmp_path / "floats")
    assert len(packed) == 40
    assert packed == floats
    bodies = [r["body"] for r in stub.requests if r["path"].endswith("/v1/embeddings")]
    if server == "refuse":  # asked once with base64, refused, asked again without, then never again
        assert bodies[0].get("encoding_format") == "base64"
        assert all("encoding_format" not in b for b in bodies[1:])


def test_a_refused_base64_request_is_asked_again_with_floats_and_remembered(stub: StubGateway) -> None:
    stub.base64 = "refuse"
    with Gateway(stub.url) as gateway:
        first = gateway.embed(MODEL, ["alpha beta"])
        second = gateway.embed(MODEL, ["gamma"])
    formats = [r["body"].get("encoding_format") for r in stub.requests]
    assert formats == ["base64", None, None]
    assert isinstance(first[0], list) and isinstance(second[0], list)


def test_a_base64_embedding_that_is_not_float32_is_an_embedding_error(stub: StubGateway) -> None:
    stub.embedding_errors = [("raw", json.dumps({"data": [{"index": 0, "embedding": "AAAAAAA="}]}))]
    with Gateway(stub.url) as gateway, pytest.raises(EmbeddingError, match="not packed float32"):
        gateway.embed(MODEL, ["x"])


# -- the vector index is built when vectors are stored ---------------------------------------------


def test_corpus_add_builds_the_index_so_no_query_waits_for_it(tmp_path: Path, stub: StubGateway) -> None:
    root = tmp_path / "root"
    output = add(CliRunner(), root, corpus_file(tmp_path, vectors.EXACT_SCAN_BELOW + 8), stub)
    assert f"vector index built over {vectors.EXACT_SCAN_BELOW + 8} vectors" in output
    layout = Layout(root)
    assert vectors.index_path(layout).exists()
    search = [
        *lakehouse_command(),
        "corpus",
        "search",
        "database queue",
        "--root",
        str(root),
        "--retrieval",
        "vector",
        "--embedding-model",
        MODEL,
        "--gateway-url",
        stub.url,
    ]
    quiet = subprocess.run(search, capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    assert "building the vector index" not in quiet.stderr
    vectors.remove_index(layout)  # as after a crash: the query has to build it, and says so
    told = subprocess.run(search, capture_output=True, text=True, timeout=60)
    assert told.returncode == 0, told.stderr
    assert "building the vector index (40 vectors of stub-embed) before answering" in told.stderr
    assert quiet.stdout == told.stdout
