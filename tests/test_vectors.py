"""Vector retrieval: the side-store, exact scan vs HNSW, safe adds, the disposable index file, hybrid."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from stub_gateway import EMBEDDING_DIM, StubGateway, word_vector
from support import invoke, write_stream

from lakehouse import catalog, pipeline, retrieval
from lakehouse.core import db
from lakehouse.core.errors import EmbeddingError
from lakehouse.core.paths import Layout
from lakehouse.core.types import Document
from lakehouse.gateway import Gateway
from lakehouse.replay.batch import Session
from lakehouse.retrieval import corpus, vectors

pytestmark = pytest.mark.fast
MODEL = "stub-embed"


def random_vector(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """A deterministic pseudo-random vector per text: distances to a query are all distinct."""
    digest = hashlib.sha256(text.encode()).digest() * 4
    return [(b - 127.5) / 127.5 for b in digest[:dim]]


def documents(count: int, prefix: str = "doc") -> list[Document]:
    return [
        Document(f"rag:{prefix}-{i:03d}", f"{prefix} {i}", f"{prefix} number {i} about topic{i % 5}")
        for i in range(count)
    ]


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    with StubGateway() as gateway:
        yield gateway


@pytest.fixture
def embedder(stub: StubGateway) -> Iterator[vectors.Embedder]:
    with Gateway(stub.url) as gateway:
        yield vectors.Embedder(gateway, MODEL)


def add_and_embed(layout: Layout, embedder: vectors.Embedder, docs: list[Document]) -> vectors.EmbedReport:
    report = corpus.AddReport()
    assert retrieval.add_documents(layout, docs, report) is None
    return vectors.embed_added(layout, embedder, report.added)


def side_store(layout: Layout) -> dict[str, str]:
    with db.catalog(layout.catalog, read_only=True) as con:
        return dict(
            con.execute("SELECT rag_id, content_sha FROM rag_vectors WHERE model = ?", [MODEL]).fetchall()
        )


def test_exact_scan_and_hnsw_index_return_the_same_top_k_just_above_the_threshold(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder
) -> None:
    stub.embed = random_vector
    docs = documents(vectors.EXACT_SCAN_BELOW + 8)
    assert add_and_embed(layout, embedder, docs).stored == len(docs)
    with retrieval.Searcher(layout, embedder=embedder) as searcher:
        for q in range(12):
            query = f"query {q}"
            hits, _ = searcher.retrieve(query, 5, "vector")
            with db.catalog(layout.catalog, read_only=True) as con:
                exact = vectors.exact(
                    con, MODEL, vectors.vector_literal(random_vector(query), EMBEDDING_DIM), 5
                )
            assert [h.rag_id for h in hits] == [rag_id for rag_id, _ in exact]
            assert [h.score for h in hits] == pytest.approx([1 - d for _, d in exact], abs=1e-6)
            assert all(h.found_by == ("vector",) for h in hits)
    index = vectors.IndexFile(vectors.index_path(layout))  # the HNSW path answered: its file exists
    try:
        assert index.stamp.vectors == len(docs) and index.stamp.model == MODEL
        literal = vectors.vector_literal(random_vector("query 3"), EMBEDDING_DIM)
        assert [r for r, _ in index.search(literal, 5)] == [r for r, _ in exact_for(layout, "query 3")]
    finally:
        index.close()


def exact_for(layout: Layout, query: str) -> list[tuple[str, float]]:
    with db.catalog(layout.catalog, read_only=True) as con:
        return vectors.exact(con, MODEL, vectors.vector_literal(random_vector(query), EMBEDDING_DIM), 5)


def test_below_the_threshold_there_is_no_index_file(layout: Layout, embedder: vectors.Embedder) -> None:
    add_and_embed(layout, embedder, documents(vectors.EXACT_SCAN_BELOW - 1))
    with retrieval.Searcher(layout, embedder=embedder) as searcher:
        hits, _ = searcher.retrieve("doc number 7 about topic2", 3, "vector")
    assert hits[0].rag_id == "rag:doc-007"
    assert not vectors.index_path(layout).exists()


def test_adds_after_the_index_exists_are_found_by_the_next_query_without_touching_it(
    layout: Layout, stub: StubGateway
) -> None:
    stub.embed = random_vector
    add_and_embed_with_session = corpus.AddReport()
    with Session(layout, url=stub.url, writable=True, embedding_model=MODEL) as session:
        session.add_documents(documents(40), add_and_embed_with_session)
        assert session.searcher is not None
        session.searcher.retrieve("warm up", 5, "vector")  # builds the index
        index_file = vectors.index_path(layout)
        built = index_file.stat().st_mtime_ns, index_file.read_bytes()
        for i in range(3):
            report = corpus.AddReport()
            fresh = Document(f"rag:new-{i}", f"new {i}", f"added after the build {i}")
            session.add_documents([fresh], report)
            assert report.added == [fresh.rag_id] and report.not_embedded == []
            hits, _ = session.searcher.retrieve(vectors.document_text(fresh.title, fresh.text), 3, "vector")
            assert hits[0].rag_id == fresh.rag_id and hits[0].score == pytest.approx(1.0, abs=1e-6)
        assert (index_file.stat().st_mtime_ns, index_file.read_bytes()) == built


def test_a_tail_past_the_rebuild_limit_rebuilds_the_index(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder
) -> None:
    stub.embed = random_vector
    add_and_embed(layout, embedder, documents(40))
    with retrieval.Searcher(layout, embedder=embedder) as searcher:
        searcher.retrieve("x", 3, "vector")
    add_and_embed(layout, embedder, documents(vectors.rebuild_after(40) + 1, prefix="more"))
    with retrieval.Searcher(layout, embedder=embedder) as searcher:
        hits, _ = searcher.retrieve(
            vectors.document_text("more 3", "more number 3 about topic3"), 1, "vector"
        )
    index = vectors.IndexFile(vectors.index_path(layout))
    try:
        assert index.stamp.vectors == 40 + vectors.rebuild_after(40) + 1
    finally:
        index.close()
    assert hits[0].rag_id == "rag:more-003"


def test_bad_vectors_and_failed_calls_keep_the_document_and_reindex_fills_the_gap(
    layout: Layout, stub: StubGateway, runner: CliRunner, tmp_path: Path
) -> None:
    stub.embed = random_vector
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(d.to_json()) + "\n" for d in documents(40)))
    root = str(layout.root)
    invoke(
        runner,
        "corpus",
        "add",
        str(good),
        "--root",
        root,
        "--embedding-model",
        MODEL,
        "--gateway-url",
        stub.url,
    )
    invoke(runner, "corpus", "reindex", "--root", root, "--embedding-model", MODEL, "--gateway-url", stub.url)
    index_file = vectors.index_path(layout)
    before = index_file.read_bytes()

    def bad(text: str) -> object:
        if "wrongdim" in text:
            return random_vector(text, EMBEDDING_DIM + 3)
        if "nanvec" in text:
            return [float("nan")] * EMBEDDING_DIM
        if "infvec" in text:
            return [float("inf"), *random_vector(text)[1:]]
        return random_vector(text)

    stub.embed = bad
    odd = tmp_path / "odd.jsonl"
    odd.write_text(
        "".join(
            json.dumps({"rag_id": f"rag:{name}", "title": name, "text": f"{name} payload for {name}"}) + "\n"
            for name in ("wrongdim", "nanvec", "infvec", "fine")
        )
    )
    args = ["--root", root, "--embedding-model", MODEL, "--gateway-url", stub.url]
    result = invoke(runner, "corpus", "add", str(odd), *args)
    assert result.exit_code == 0, result.output
    assert "not embedded rag:wrongdim: wrong dimension 19 (the side-store holds 16)" in result.stderr
    assert "not embedded rag:nanvec: the embedding holds NaN or infinite values" in result.stderr
    assert "not embedded rag:infvec: the embedding holds NaN or infinite values" in result.stderr
    assert "4 documents added or updated" in result.stderr and "1 embedded, 3 not" in result.stderr
    stub.embedding_errors = [("status", 500, "embedder exploded")]
    failing = tmp_path / "failing.jsonl"
    failing.write_text(
        json.dumps({"rag_id": "rag:unlucky", "title": "unlucky", "text": "unlucky text"}) + "\n"
    )
    result = invoke(runner, "corpus", "add", str(failing), *args)
    assert (
        "not embedded rag:unlucky: embedding call: HTTP 500 from gateway: embedder exploded" in result.stderr
    )
    assert index_file.read_bytes() == before  # adds never touch the index
    assert set(side_store(layout)) == {d.rag_id for d in documents(40)} | {"rag:fine"}
    search = invoke(runner, "corpus", "search", "wrongdim payload", "--root", root, "--json")
    assert json.loads(search.output)["results"][0]["rag_id"] == "rag:wrongdim"  # BM25 still finds it

    stub.embed = random_vector
    result = invoke(runner, "corpus", "reindex", *args)
    assert result.exit_code == 0, result.output
    assert "vectors: 4 embedded, 0 failed; 45 in the side-store" in result.stderr
    assert set(side_store(layout)) == set(corpus.load(layout))


def test_a_call_that_is_not_embeddings_is_an_embedding_error(stub: StubGateway) -> None:
    with Gateway(stub.url) as gateway:
        stub.embedding_errors = [("raw", "<html>nope</html>"), ("raw", '{"data": [{"embedding": [1.0]}]}')]
        with pytest.raises(EmbeddingError, match="body is not JSON"):
            gateway.embed(MODEL, ["a"])
        with pytest.raises(EmbeddingError, match="1 embeddings for 2 inputs"):
            gateway.embed(MODEL, ["a", "b"])
        # base64 float32 by default: the same values as the server's floats, at float32 precision
        got = gateway.embed(MODEL, ["a", "b"])
        assert [list(v) for v in got] == [pytest.approx(word_vector(t), abs=1e-7) for t in ("a", "b")]


def test_a_damaged_index_file_is_rebuilt_not_fatal(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder
) -> None:
    stub.embed = random_vector
    add_and_embed(layout, embedder, documents(40))
    vectors.index_path(layout).write_bytes(b"\x00garbage, not a DuckDB file" * 100)
    with retrieval.Searcher(layout, embedder=embedder) as searcher:
        hits, _ = searcher.retrieve("query 1", 5, "vector")
        assert searcher.vectors is not None and "unreadable" in (searcher.vectors.warning or "")
    assert [h.rag_id for h in hits] == [r for r, _ in exact_for(layout, "query 1")]
    vectors.IndexFile(vectors.index_path(layout)).close()  # a good file again


def test_an_index_built_for_another_model_is_rebuilt(layout: Layout, stub: StubGateway) -> None:
    stub.embed = random_vector
    with Gateway(stub.url) as gateway:
        for model in ("model-a", "model-b"):
            embedder = vectors.Embedder(gateway, model)
            add_and_embed(layout, embedder, documents(40)) if model == "model-a" else vectors.reindex(
                layout, embedder
            )
            with retrieval.Searcher(layout, embedder=embedder) as searcher:
                searcher.retrieve("q", 3, "vector")
            index = vectors.IndexFile(vectors.index_path(layout))
            assert index.stamp.model == model
            index.close()


def test_hybrid_ranks_documents_that_only_one_method_finds(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder
) -> None:
    query = "restart the ingestion worker"
    synonym = Document("rag:synonym", "Bounce the pipeline daemon", "cycle it: stop, wait, start")
    lexical = Document("rag:lexical", "Ingestion worker notes", "restart worker ingestion restart")

    def embed(text: str) -> list[float]:
        if text == query or text == vectors.document_text(synonym.title, synonym.text):
            return word_vector("same meaning")  # the embedding model knows they mean the same
        if text == vectors.document_text(lexical.title, lexical.text):
            return [-v for v in word_vector("same meaning")]  # and that this one does not
        return random_vector(text)

    stub.embed = embed
    add_and_embed(layout, embedder, [synonym, lexical, *documents(40)])  # more than HYBRID_DEPTH
    with retrieval.Searcher(layout, embedder=embedder) as searcher:
        bm25, _ = searcher.retrieve(query, 3, "bm25")
        vector, _ = searcher.retrieve(query, 3, "vector")
        hybrid, _ = searcher.retrieve(query, 4, "hybrid")
    assert "rag:synonym" not in [h.rag_id for h in bm25] and vector[0].rag_id == "rag:synonym"
    assert bm25[0].rag_id == "rag:lexical" and "rag:lexical" not in [h.rag_id for h in vector]
    found_by = {h.rag_id: h.found_by for h in hybrid}
    assert found_by["rag:synonym"] == ("vector",) and found_by["rag:lexical"] == ("bm25",)
    assert [h.rag_id for h in hybrid][:2] == ["rag:lexical", "rag:synonym"]  # both rank 1 once: 1/61 each


def test_replay_with_hybrid_retrieval_records_which_method_found_each_playbook(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder, runner: CliRunner
) -> None:
    target = Document("rag:target", "Rotate the signing keys", "rotate signing keys every quarter")
    add_and_embed(layout, embedder, [target, *documents(12)])
    result = invoke(
        runner, "replay", "rotate the signing keys", "--root", str(layout.root), "--dry-run", "--json",
        "--retrieval", "hybrid", "--embedding-model", MODEL, "--gateway-url", stub.url, "-k", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = json.loads(result.stdout)["context_bundle"]
    assert bundle["retrieval"] == "hybrid"
    assert bundle["retrieved_playbooks"][0]["rag_id"] == "rag:target"
    assert bundle["retrieved_playbooks"][0]["found_by"] == ["bm25", "vector"]
    assert json.loads(result.stdout)["provenance"]["options"]["retrieval"] == "hybrid"
    bm25_run = invoke(runner, "replay", "doc number 4", "--root", str(layout.root), "--dry-run", "--json")
    assert "found_by" not in json.dumps(json.loads(bm25_run.stdout)["context_bundle"])  # unchanged for BM25


def test_vector_retrieval_without_an_embedding_model_is_a_usage_error(
    layout: Layout, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(vectors.EMBEDDING_ENV, raising=False)
    corpus_file = layout.root / "docs.jsonl"
    corpus_file.write_text(json.dumps({"title": "t", "text": "some text"}) + "\n")
    invoke(runner, "corpus", "add", str(corpus_file), "--root", str(layout.root))
    for args in (
        ["corpus", "search", "text", "--retrieval", "vector"],
        ["replay", "x", "--retrieval", "hybrid", "--dry-run"],
    ):
        result = invoke(runner, *args, "--root", str(layout.root))
        assert result.exit_code == 2
        assert result.stderr.strip().endswith(
            "needs an embedding model: pass --embedding-model or set $LH_EMBEDDING_MODEL"
        )


def test_rebuild_carries_the_side_store_over(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder
) -> None:
    stub.embed = random_vector
    add_and_embed(layout, embedder, documents(40))
    before = side_store(layout)
    report = catalog.rebuild(layout)
    assert report.vectors == 40 and side_store(layout) == before
    add_and_embed(layout, embedder, documents(1, prefix="after"))
    with db.catalog(layout.catalog, read_only=True) as con:
        seqs = [s for (s,) in con.execute("SELECT seq FROM rag_vectors ORDER BY seq").fetchall()]
    assert len(set(seqs)) == 41  # the sequence continues after the restored rows


KILLED_ADDER = textwrap.dedent(
    """
    import sys
    from lakehouse import retrieval
    from lakehouse.retrieval import corpus, vectors
    from lakehouse.gateway import Gateway
    from lakehouse.core.paths import open_root
    from lakehouse.core.types import Document

    layout = open_root(sys.argv[1])
    embedder = vectors.Embedder(Gateway(sys.argv[2]), "stub-embed")
    for i in range(10_000):
        report = corpus.AddReport()
        retrieval.add_documents(layout, [Document(f"rag:k-{i:05d}", f"k {i}", f"killed adder text {i}")], report)
        if vectors.embed_added(layout, embedder, report.added).stored:
            print(f"rag:k-{i:05d}", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_during_adds_loses_no_vector(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder
) -> None:
    stub.embed = random_vector
    # Enough vectors up front for reindex to build the HNSW file (EXACT_SCAN_BELOW), in one add.
    add_and_embed(layout, embedder, documents(vectors.EXACT_SCAN_BELOW, "seed"))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_ADDER, str(layout.root), stub.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed = []
    assert child.stdout is not None
    # A few committed adds are enough to kill inside a later one; on a loaded CI machine (-n 4 on
    # two cores, beside the lake's multi-process tests) an add has taken over 2 s.
    deadline = time.monotonic() + 240
    while len(committed) < 12 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:  # the adder ended before it was killed: its error is the failure to show
            break
        committed.append(line.strip())
    time.sleep(0.05 * (hash(layout.root) % 7))  # somewhere inside the next add
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert child.stderr is not None
    errors = child.stderr.read()
    child.stderr.close()
    assert len(committed) == 12, f"the adder did not get going: {errors[-2000:]}"
    stored = side_store(layout)
    assert set(committed) <= set(stored)  # every vector it reported as stored survived the kill
    _, report = retrieval.reindex(layout, embedder)
    assert set(side_store(layout)) == set(corpus.load(layout))  # the gap (if any) is filled
    assert report.index_built
    with retrieval.Searcher(layout, embedder=embedder) as searcher:
        last = max(r for r in corpus.load(layout) if r.startswith("rag:k-"))  # the killed adder's last
        text = corpus.load(layout)[last]
        hits, _ = searcher.retrieve(vectors.document_text(text.title, text.text), 1, "vector")
    assert hits[0].rag_id == last


def test_batch_replays_with_hybrid_retrieval_log_found_by(
    layout: Layout, stub: StubGateway, embedder: vectors.Embedder, runner: CliRunner, tmp_path: Path
) -> None:
    add_and_embed(
        layout, embedder, [Document("rag:keys", "Rotate keys", "rotate signing keys"), *documents(5)]
    )
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps({"task": "rotate the signing keys"}) + "\n"
        + json.dumps({"task": "rotate keys by bm25", "retrieval": "bm25"}) + "\n"
    )  # fmt: skip
    result = invoke(
        runner, "replay", "--tasks", str(tasks), "--root", str(layout.root), "--dry-run", "--concurrency", "2",
        "--retrieval", "hybrid", "--embedding-model", MODEL, "--gateway-url", stub.url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = {r["input_task"]: r for r in map(json.loads, layout.replay_runs.read_text().splitlines())}
    hybrid = runs["rotate the signing keys"]["context_bundle"]
    assert hybrid["retrieval"] == "hybrid" and hybrid["retrieved_playbooks"][0]["found_by"] == [
        "bm25",
        "vector",
    ]
    assert runs["rotate keys by bm25"]["context_bundle"]["retrieval"] == "bm25"


def test_materialize_embeds_new_playbooks_and_a_down_gateway_is_only_a_warning(
    layout: Layout, stub: StubGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbook = {"ts": "2026-05-01T10:00:00Z", "playbook_id": "flaky", "version": 1, "title": "Flaky test",
                "steps": ["rerun", "bisect"], "tags": ["ops"]}  # fmt: skip
    write_stream(layout, "playbooks", [playbook])
    monkeypatch.setenv(vectors.EMBEDDING_ENV, MODEL)
    monkeypatch.setenv("LH_GATEWAY_URL", stub.url)
    outcome = pipeline.materialize(layout)
    assert outcome.mirror_warning is None and set(side_store(layout)) == {"rag:flaky"}
    monkeypatch.setenv("LH_GATEWAY_URL", "http://127.0.0.1:9")  # nothing listens there
    write_stream(layout, "playbooks", [{**playbook, "version": 2, "steps": ["rerun", "quarantine"]}])
    outcome = pipeline.materialize(layout)
    assert "1 playbooks not embedded (rag:flaky: embedding call: connection error" in (
        outcome.mirror_warning or ""
    )
    assert corpus.load(layout)["rag:flaky"].text.endswith("2. quarantine")  # the corpus has the new version
