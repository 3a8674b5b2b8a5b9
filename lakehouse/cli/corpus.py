"""``lakehouse corpus``: add, reindex and search the RAG corpus."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from lakehouse import retrieval
from lakehouse.cli import output
from lakehouse.cli.group import (
    cli,
    embedding_model_option,
    gateway_url_option,
    only_with,
    retrieval_option,
    root_option,
    say,
)
from lakehouse.cli.progress import Bar
from lakehouse.core.errors import UsageError
from lakehouse.core.paths import Layout, open_root
from lakehouse.retrieval import corpus, vectors


@cli.group("corpus")
def corpus_group() -> None:
    """The RAG corpus (data/_kb/rag_corpus.jsonl) and retrieval over it (BM25; vectors optional).

    Example: lakehouse corpus search "flaky test in CI" -k 5
    """


@corpus_group.command("add")
@root_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@embedding_model_option
@gateway_url_option
def corpus_add_command(
    root: Path | None, file: Path, embedding_model: str | None, gateway_url: str | None
) -> None:
    """Add documents from a JSONL FILE ({rag_id?, title, text, tags?} per line) to the corpus.

    A line without rag_id gets a stable one from its content (rag:doc-<16 hex>). Documents
    whose title, text and tags did not change are skipped, so re-adding a file changes
    nothing. Bad lines are reported with their line number; the rest are added. With an
    embedding model, added documents are embedded too; a document whose embedding fails is
    kept (BM25 finds it), reported, and embedded by a later 'lakehouse corpus reindex'.

    Example: lakehouse corpus add runbooks.jsonl
    """
    layout = open_root(root, create=True)
    report = corpus.AddReport()
    docs = corpus.read_user_file(file, report)
    warning = retrieval.add_documents(layout, docs, report)
    embedded = None
    if not warning:
        with _bar() as bar:
            embedded = vectors.embed_with_configured_model(
                layout, embedding_model, gateway_url, report.added, bar
            )
    if embedded is not None:
        report.not_embedded.extend(embedded.messages())
    if warning and vectors.embedding_model(embedding_model):
        warning += "; documents not embedded: run 'lakehouse corpus reindex' once the catalog is free"
    for problem in report.rejected:
        say(f"skipped {problem}")
    for problem in report.not_embedded:
        say(f"not embedded {problem}")
    say(
        f"{len(report.added)} documents added or updated, {len(report.unchanged)} unchanged, "
        f"{len(report.rejected)} lines skipped"
        + (f"; {embedded.stored} embedded, {len(report.not_embedded)} not" if embedded is not None else "")
    )
    if embedded is not None and embedded.index_built:
        say(f"vector index built over {embedded.index_built:,} vectors")
    if report.not_embedded:
        say("run 'lakehouse corpus reindex' to embed what is missing")
    if warning:
        say(f"warning: {warning}")


@contextlib.contextmanager
def _bar() -> Iterator[vectors.BuildProgress]:
    """The vector index build's progress bar (on a terminal)."""
    bar = Bar()
    try:
        yield lambda done: bar.fraction("vector index", done)
    finally:
        bar.close()


@corpus_group.command("reindex")
@root_option
@embedding_model_option
@gateway_url_option
def corpus_reindex_command(root: Path | None, embedding_model: str | None, gateway_url: str | None) -> None:
    """Bring the retrieval indexes up to date: BM25, vectors, and the HNSW index file.

    Indexes any corpus document BM25 lacks, embeds every document without a vector of its
    current version (after failed embeddings, or a new model), rebuilds the vector index file
    data/_state/vector_index.duckdb from the side-store (rag_vectors), and calibrates the
    hybrid fusion weight (as 'lakehouse corpus tune-fusion').

    Without an embedding model, BM25 alone is brought up to date.

    Example: lakehouse corpus reindex --embedding-model nomic-embed-text
    """
    layout = open_root(root, create=True)
    embedder = vectors.open_embedder(embedding_model, gateway_url)
    if embedder is None:
        say(f"BM25: {retrieval.refresh(layout)} documents indexed")
        say(f"vectors: none (no embedding model: pass --embedding-model or set ${vectors.EMBEDDING_ENV})")
        return
    with embedder.gateway:
        with _bar() as bar:
            indexed, report = retrieval.reindex(layout, embedder, bar)
        say(f"BM25: {indexed} documents indexed")
        for problem in report.embedded.messages():
            say(f"not embedded {problem}")
        index = (
            f"HNSW index rebuilt in {report.build_s:.2f} s" if report.index_built else "exact scan, no index"
        )
        say(
            f"vectors: {report.embedded.stored} embedded, {len(report.embedded.failed)} failed; "
            f"{report.vectors} in the side-store for {embedder.model} ({index})"
        )
        try:
            _say_tuned(_tune(layout, embedder))
        except UsageError as exc:  # a corpus too small or too terse: hybrid keeps its weight
            say(f"fusion: not calibrated ({exc})")
    if report.embedded.failed:
        sys.exit(1)


@corpus_group.command("tune-fusion")
@root_option
@embedding_model_option
@gateway_url_option
def corpus_tune_fusion_command(
    root: Path | None, embedding_model: str | None, gateway_url: str | None
) -> None:
    """Calibrate hybrid retrieval's fusion weight for this corpus and embedding model.

    Hybrid retrieval (--retrieval hybrid --fusion cc) adds the normalised BM25 and vector scores,
    weighted: w * BM25 + (1 - w) * vector. This finds w without labelled data: it samples up to
    200 documents, asks for each three of its rare words and one of its sentences without them,
    scores w = 0, 0.05, ..., 1 by how high the source documents rank, and keeps the lowest w
    within 0.01 of the best (queries made of a document's own words flatter BM25). The weight is
    stored in the catalog (table fusion_weights) with the corpus version and used by the next
    hybrid query. 'lakehouse corpus reindex' calibrates too. Uncalibrated, w is 0.7.

    Example: lakehouse corpus tune-fusion --embedding-model nomic-embed-text
    """
    layout = open_root(root)
    embedder = vectors.open_embedder(embedding_model, gateway_url)
    if embedder is None:
        raise UsageError(f"no embedding model: pass --embedding-model or set ${vectors.EMBEDDING_ENV}")
    with embedder.gateway:
        _say_tuned(_tune(layout, embedder))


def _tune(layout: Layout, embedder: vectors.Embedder) -> vectors.FusionWeight:
    bar = Bar()
    try:
        return retrieval.tune_fusion(
            layout, embedder, lambda done, total: bar.fraction("calibrating", done / total)
        )
    finally:
        bar.close()


def _say_tuned(weight: vectors.FusionWeight) -> None:
    say(
        f"fusion: lexical weight {weight.lexical_weight:g} for {weight.model} "
        f"(mean reciprocal rank {weight.objective:.3f} over {weight.queries} sampled queries "
        f"from {weight.documents:,} documents); stored in the catalog"
    )


@corpus_group.command("search")
@root_option
@click.argument("query", required=False)
@click.option(
    "--queries",
    "queries_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file with one query per line; prints one JSON line per query.",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(min=1, max=1000),
    default=5,
    show_default=True,
    help="How many documents to return.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@retrieval_option
@embedding_model_option
@gateway_url_option
@click.pass_context
def corpus_search_command(
    ctx: click.Context,
    root: Path | None,
    query: str | None,
    queries_file: Path | None,
    k: int,
    as_json: bool,
    method: str,
    fusion: str,
    embedding_model: str | None,
    gateway_url: str | None,
) -> None:
    """Search the corpus: QUERY, or every line of --queries FILE (BM25 unless --retrieval says).

    Output per query: {"query", "results": [{"rag_id", "title", "score"}], "took_ms"}; vector and
    hybrid results also say which methods found each document ("found_by").

    Example: lakehouse corpus search "database migration index" -k 3 --json
    """
    if (query is None) == (queries_file is None):
        raise click.UsageError("give either QUERY or --queries FILE")
    only_with(ctx, "fusion", method == "hybrid", "with --retrieval hybrid")
    layout = open_root(root)
    queries = (
        [query]
        if query is not None
        else [line.strip() for line in queries_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    )
    embedder = vectors.open_embedder(embedding_model, gateway_url) if method != "bm25" else None
    vectors.check_method(method, embedder.model if embedder else None)
    with contextlib.ExitStack() as stack:
        if embedder is not None:
            stack.enter_context(embedder.gateway)
        searcher = stack.enter_context(retrieval.Searcher(layout, embedder=embedder, catch_up=False))
        if searcher.warning:
            say(f"note: {searcher.warning}")
        for text in queries:
            hits, took_ms = searcher.retrieve(text, k, method, fusion)
            results = [
                {"rag_id": h.rag_id, "title": h.title, "score": round(h.score, 6)}
                | ({"found_by": list(h.found_by)} if h.found_by else {})
                for h in hits
            ]
            if as_json or queries_file is not None:
                click.echo(json.dumps({"query": text, "results": results, "took_ms": round(took_ms, 3)}))
            else:
                click.echo(
                    output.table(
                        ["rag_id", "title", "score"], [[r["rag_id"], r["title"], r["score"]] for r in results]
                    )
                )
