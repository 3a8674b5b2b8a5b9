"""The ``lakehouse`` command line: parses, calls the library, prints. Nothing else.

Messages for people go to stderr, data to stdout. Every ``LakehouseError`` becomes one
line ``error: ...`` and its exit code (PRODUCT.md §4); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lakehouse import (
    __version__,
    analytics,
    batch,
    catalog,
    corpus,
    demo,
    maintenance,
    materialize,
    output,
    replay,
    retrieval,
    vectors,
)
from lakehouse.errors import EXIT_INFRASTRUCTURE, LakehouseError, UsageError
from lakehouse.files import atomic_output
from lakehouse.paths import ROOT_ENV, Layout, open_root
from lakehouse.progress import Bar


def say(message: str) -> None:
    click.echo(message, err=True)


class LakehouseGroup(click.Group):
    """Turns every error into one line ``error: ...`` on stderr and an exit code (README, "Exit codes").

    Library errors carry their exit code; click's usage errors exit 2; anything unexpected exits 4
    and asks for ``--debug``, which shows the traceback instead.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as exc:  # usage errors before a command ran: one line, not click's four
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            say(f"error: {exc.format_message()}{hint}")
            sys.exit(exc.exit_code)
        except click.Abort:
            say("interrupted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        def debug() -> bool:  # read late: --debug is stored by the group's callback, inside invoke
            return bool(ctx.obj and ctx.obj.get("debug"))

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except LakehouseError as exc:
            if debug():
                raise
            say(f"error: {exc}")
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # The reader went away (`lakehouse sql ... | head`): stop quietly, like other Unix tools.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except OSError as exc:
            if debug():
                raise
            say(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            ctx.exit(EXIT_INFRASTRUCTURE)
        except KeyboardInterrupt:
            say("interrupted")
            ctx.exit(130)
        except Exception as exc:
            if debug():
                raise
            message = " ".join(str(exc).split()) or "no message"
            say(
                f"error: internal error ({type(exc).__name__}: {message}); run with --debug for the traceback"
            )
            ctx.exit(EXIT_INFRASTRUCTURE)


def embedding_model_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--embedding-model",
        help="Embedding model for vector retrieval (default: $LH_EMBEDDING_MODEL; none: BM25 only).",
    )(func)


def gateway_url_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--gateway-url",
        help="OpenAI-compatible base URL (default: $LH_GATEWAY_URL, else http://127.0.0.1:11434).",
    )(func)


def retrieval_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--retrieval",
        "method",
        type=click.Choice(vectors.METHODS),
        default="bm25",
        show_default=True,
        help="bm25, vector (needs an embedding model), or hybrid (both, fused by reciprocal rank).",
    )(func)


def root_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Project root holding data/ (default: ${ROOT_ENV}, else the current directory).",
    )(func)


@click.group(cls=LakehouseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lakehouse")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """lakehouse: an embedded evidence store for LLM agent logs.

    Materialize JSONL logs into content-addressed evidence (Parquet + JSONL), and query it
    with SQL. Everything lives under ROOT/data (see --root).

    Example: lakehouse demo --root /tmp/lh
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def print_receipt_summary(receipt: dict[str, Any]) -> None:
    totals = receipt["totals"]
    say(
        f"materialized {totals['emitted']} new evidence records from {totals['lines']} new lines "
        f"({totals['duplicates']} duplicates skipped, {totals['quarantined']} quarantined) "
        f"into {totals['partitions']} day partitions in {receipt['duration_ms']} ms"
    )
    for item in receipt["inputs"]:
        if item["reset"]:
            say(f"note: {item['path']} {item['reset']} since the last run; read again from the start")
        if item["pending_bytes"]:
            say(
                f"note: {item['path']} ends with {item['pending_bytes']} bytes without a newline; "
                "left for the next run"
            )
    if totals["quarantined"]:
        say("quarantined lines are in data/_kb/quarantine.jsonl (and the catalog's quarantine table)")


def run_materialize(layout: Layout, options: materialize.Options) -> materialize.Outcome:
    bar = Bar()
    try:
        outcome = materialize.run(layout, options, progress=bar.update, on_wait=say)
    finally:
        bar.close()
    if outcome.recovered:
        say("note: finished the commit of a run that was interrupted")
    if outcome.mirror_warning:
        say(f"warning: {outcome.mirror_warning}")
    return outcome


@cli.command("materialize")
@root_option
@click.option(
    "--transforms",
    "transforms_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of extra transform .sql files (a file named like a built-in replaces it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's receipt as JSON on stdout.")
@click.option("--no-wait", is_flag=True, help="Exit at once if another materialize holds the root's lock.")
@click.option(
    "--max-line-bytes",
    type=click.IntRange(min=1024),
    default=materialize.streams.DEFAULT_MAX_LINE_BYTES,
    show_default=True,
    help="Longer lines are quarantined.",
)
@embedding_model_option
def materialize_command(
    root: Path | None,
    transforms_dir: Path | None,
    as_json: bool,
    no_wait: bool,
    max_line_bytes: int,
    embedding_model: str | None,
) -> None:
    """Turn new stream lines in data/_kb into evidence (Parquet + JSONL).

    Reads only what was appended since the last run, skips evidence ids already written,
    quarantines bad lines with their reason, and appends a receipt to
    data/_kb/receipts.jsonl. Safe to re-run and to kill at any moment.

    Example: lakehouse materialize --root . --json
    """
    layout = open_root(root, create=True)
    options = materialize.Options(
        transforms_dir=transforms_dir,
        wait=not no_wait,
        max_line_bytes=max_line_bytes,
        embedding_model=embedding_model,
    )
    outcome = run_materialize(layout, options)
    if as_json:
        click.echo(json.dumps(outcome.receipt, indent=2))
    else:
        print_receipt_summary(outcome.receipt)


@cli.command("demo")
@root_option
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the synthetic data.")
@click.option(
    "--lines",
    type=click.IntRange(min=100),
    default=demo.DEFAULT_LINES,
    show_default=True,
    help="About how many lines to write across the twelve streams.",
)
@click.option("--force", is_flag=True, help="Replace streams in data/_kb that hold other data.")
def demo_command(root: Path | None, seed: int, lines: int, force: bool) -> None:
    """Write a synthetic data/_kb (all twelve streams, a few bad lines), materialize, replay, summarise.

    The embedded default a newcomer runs first; deterministic for a given --seed.

    Example: lakehouse demo --root /tmp/lh --seed 7
    """
    layout = open_root(root, create=True, make_root=True)
    data = demo.write_demo_streams(layout, lines=lines, seed=seed, force=force)
    say(
        f"demo streams in {layout.kb}: {len(data.written)} written, {len(data.unchanged)} unchanged "
        f"(~{data.lines} lines)"
    )
    outcome = run_materialize(layout, materialize.Options())
    print_receipt_summary(outcome.receipt)
    warning = demo.replay_examples(layout)
    say(f"replayed {len(demo.DEMO_TASKS)} tasks in dry run (data/_kb/replay_runs.jsonl)")
    if outcome.mirror_warning or warning:
        say(f"warning: {warning}" if warning else "the summary needs the catalog: run 'lakehouse sync'")
        return
    for title, columns, rows in demo.summary(layout):
        click.echo(f"\n{title}")
        click.echo(output.table(columns, rows))


@cli.command("compact")
@root_option
@click.option(
    "--min-parts",
    type=click.IntRange(min=2),
    default=2,
    show_default=True,
    help="Merge days that have at least this many Parquet parts.",
)
def compact_command(root: Path | None, min_parts: int) -> None:
    """Merge each day's Parquet parts into one (fewer, larger files read faster).

    Example: lakehouse compact --root .
    """
    layout = open_root(root, create=True)
    report = maintenance.compact(layout, min_parts=min_parts, on_wait=say)
    say(f"compacted {len(report.days)} days: {report.parts_before} parts -> {report.parts_after}")


@cli.command("rebuild")
@root_option
def rebuild_command(root: Path | None) -> None:
    """Recreate the Parquet parts and the catalog from the evidence JSONL alone.

    Example: lakehouse rebuild --root .
    """
    layout = open_root(root, create=True)
    report = maintenance.rebuild(layout, on_wait=say)
    say(f"rebuilt {report.rows} evidence records in {report.days} days; catalog recreated")


@cli.command("sync")
@root_option
def sync_command(root: Path | None) -> None:
    """Catch the catalog (data/lakehouse.duckdb) up with the JSONL and Parquet files.

    Idempotent; also replaces a damaged catalog (the old file is kept beside it).

    Example: lakehouse sync --root .
    """
    layout = open_root(root, create=True)
    report = catalog.sync(layout)
    if report.repaired:
        say(f"warning: the catalog was damaged; moved it to {report.repaired} and rebuilt it")
    say(
        f"catalog synced: evidence view over {report.evidence_parts} Parquet parts; "
        f"{report.receipts} receipts, {report.quarantine} quarantined lines added"
    )


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
    embedded = (
        vectors.embed_with_configured_model(layout, embedding_model, gateway_url, report.added)
        if not warning
        else None
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
    if report.not_embedded:
        say("run 'lakehouse corpus reindex' to embed what is missing")
    if warning:
        say(f"warning: {warning}")


@corpus_group.command("reindex")
@root_option
@embedding_model_option
@gateway_url_option
def corpus_reindex_command(root: Path | None, embedding_model: str | None, gateway_url: str | None) -> None:
    """Bring the retrieval indexes up to date: BM25, vectors, and the HNSW index file.

    Indexes any corpus document BM25 lacks, embeds every document without a vector of its
    current version (after failed embeddings, or a new model), and rebuilds the vector
    index file data/_state/vector_index.duckdb from the side-store (rag_vectors).

    Example: lakehouse corpus reindex --embedding-model nomic-embed-text
    """
    layout = open_root(root, create=True)
    embedder = vectors.open_embedder(embedding_model, gateway_url)
    if embedder is None:
        raise UsageError(f"no embedding model: pass --embedding-model or set ${vectors.EMBEDDING_ENV}")
    with embedder.gateway:
        indexed, report = retrieval.reindex(layout, embedder)
    say(f"BM25: {indexed} documents indexed")
    for problem in report.embedded.messages():
        say(f"not embedded {problem}")
    index = f"HNSW index rebuilt in {report.build_s:.2f} s" if report.index_built else "exact scan, no index"
    say(
        f"vectors: {report.embedded.stored} embedded, {len(report.embedded.failed)} failed; "
        f"{report.vectors} in the side-store for {embedder.model} ({index})"
    )
    if report.embedded.failed:
        sys.exit(1)


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
def corpus_search_command(
    root: Path | None,
    query: str | None,
    queries_file: Path | None,
    k: int,
    as_json: bool,
    method: str,
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
        searcher = stack.enter_context(retrieval.Searcher(layout, embedder=embedder))
        for text in queries:
            hits, took_ms = searcher.retrieve(text, k, method)
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


@cli.command("replay")
@root_option
@click.argument("task", required=False)
@click.option(
    "--tasks",
    "tasks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Replay every line of a JSONL file ({"task": ..., optional per-task options}).',
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=512),
    default=8,
    show_default=True,
    help="Replays in flight with --tasks.",
)
@click.option("--allow-escalation", is_flag=True, help="On a failed validation, call the escalation model.")
@click.option("--local-only", is_flag=True, help="Never escalate, even with --allow-escalation.")
@click.option("--no-retrieval", is_flag=True, help="No context bundle: the prompt carries the task alone.")
@click.option("--dry-run", is_flag=True, help="No network: a deterministic answer stands in for the model.")
@click.option("--local-model", help="Local model (default: $LH_LOCAL_MODEL, else qwen2.5-coder:7b).")
@click.option(
    "--escalation-model", help="Escalation model (default: $LH_ESCALATION_MODEL, else qwen2.5-coder:32b)."
)
@gateway_url_option
@click.option(
    "-k",
    "k",
    type=click.IntRange(min=1, max=50),
    default=replay.DEFAULT_K,
    show_default=True,
    help="Playbooks to retrieve.",
)
@retrieval_option
@embedding_model_option
@click.option("--json", "as_json", is_flag=True, help="Print the run record (replay_run.v1) as JSON.")
def replay_command(
    root: Path | None,
    task: str | None,
    tasks_file: Path | None,
    concurrency: int,
    allow_escalation: bool,
    local_only: bool,
    no_retrieval: bool,
    dry_run: bool,
    local_model: str | None,
    escalation_model: str | None,
    gateway_url: str | None,
    k: int,
    method: str,
    embedding_model: str | None,
    as_json: bool,
) -> None:
    """Replay TASK (or every task of --tasks FILE): retrieve, prompt, call, validate, escalate, log.

    Each run appends one replay_run.v1 line to data/_kb/replay_runs.jsonl and is mirrored
    into the catalog's replay_runs table. Exit 0 when the run passed, 1 when it was
    recorded but did not pass (a failed model call is a result), 2 usage, 4 infrastructure.
    The bearer key comes from $LH_GATEWAY_API_KEY and is never written anywhere.
    --retrieval vector|hybrid embeds the task through the gateway (also with --dry-run) and
    records in the context bundle which method found each playbook.

    Example: lakehouse replay "fix the flaky test in CI" --allow-escalation --dry-run
    """
    if (task is None) == (tasks_file is None):
        raise click.UsageError("give either TASK or --tasks FILE")
    layout = open_root(root, create=True)
    request = replay.ReplayRequest(
        task or "",
        allow_escalation=allow_escalation,
        local_only=local_only,
        no_retrieval=no_retrieval,
        dry_run=dry_run,
        local_model=local_model,
        escalation_model=escalation_model,
        gateway_url=gateway_url,
        k=k,
        retrieval=method,
        embedding_model=embedding_model,
    )
    if tasks_file is not None:
        _replay_batch(layout, tasks_file, request, concurrency)
        return
    record = replay.run(request, layout)
    warning = replay.mirror(layout)
    if warning:
        say(f"warning: {warning}")
    verdict = record["validation_result"]
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        click.echo(record["model_response"])
        say(
            f"{record['recorded_run_id']}: {'passed' if verdict['passed'] else 'not passed'} "
            f"via {' -> '.join(record['escalation_path'])} in {record['duration_ms']} ms"
            + (f" ({'; '.join(verdict['reasons'])})" if verdict["reasons"] else "")
        )
    sys.exit(0 if verdict["passed"] else 1)


def _replay_batch(layout: Layout, tasks_file: Path, defaults: replay.ReplayRequest, concurrency: int) -> None:
    report = batch.BatchReport()
    requests = batch.read_tasks(tasks_file, defaults, report)
    for problem in report.skipped:
        say(f"skipped {problem}")
    bar = Bar()
    try:
        if requests:
            batch.run(
                layout,
                requests,
                concurrency,
                report,
                on_done=lambda done, total: bar.update("replay", done, total),
            )
    finally:
        bar.close()
    for error in report.errors:
        say(f"error: {error}")
    warning = replay.mirror(layout)
    if warning:
        say(f"warning: {warning}")
    say(
        f"{report.runs} runs: {report.passed} passed, {report.runs - report.passed} not passed, "
        f"{report.escalated} escalated; {len(report.skipped)} task lines skipped, {len(report.errors)} errors"
    )
    sys.exit(4 if report.errors else 0 if report.passed == report.runs else 1)


def format_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--limit",
        type=click.IntRange(min=0),
        default=None,
        help=f"Write at most N rows (default: {output.TABLE_LIMIT} for table, all otherwise; 0: all). "
        "The table says how many rows it left out.",
    )(func)
    func = click.option(
        "--output",
        "-o",
        "output_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write the result to FILE (replaced whole) instead of stdout; parquet needs it.",
    )(func)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(output.FORMATS),
        default=None,
        help="table, csv, json, jsonl or parquet. Default: table on a terminal, jsonl when piped; "
        "with --output, the file's extension (.csv, .json, .jsonl, .parquet), else jsonl.",
    )(func)


def result_format(fmt: str | None, output_file: Path | None) -> str:
    if fmt:
        return fmt
    if output_file is not None:
        suffix = output_file.suffix.lower().lstrip(".")
        return suffix if suffix in output.FORMATS and suffix != "table" else "jsonl"
    return "table" if sys.stdout.isatty() else "jsonl"


def print_result(
    layout: Layout, sql: str, *, write: bool, fmt: str | None, output_file: Path | None, limit: int | None
) -> None:
    """Run SQL and stream its result to stdout or --output in the chosen format."""
    fmt = result_format(fmt, output_file)
    if fmt == "parquet" and output_file is None:
        raise click.UsageError("--format parquet needs --output FILE")
    with analytics.query(layout, sql, write=write) as (result, warning):
        if warning:
            say(f"warning: {warning}")
        if output_file is None:
            sys.stdout.flush()
            written = output.write(result, fmt, sys.stdout.buffer, limit=limit)
            sys.stdout.buffer.flush()
        else:
            with atomic_output(output_file) as sink:
                written = output.write(result, fmt, sink, limit=limit)
            say(f"wrote {written.written:,} row{'s' if written.written != 1 else ''} to {output_file}")
    if written.left_out and fmt != "table":
        say(f"note: {written.left_out:,} more rows not written (--limit {limit})")


@cli.command("query")
@root_option
@click.argument("name", required=False)
@click.option("--list", "list_queries", is_flag=True, help="List the named queries with their descriptions.")
@format_options
def query_command(
    root: Path | None,
    name: str | None,
    list_queries: bool,
    fmt: str | None,
    output_file: Path | None,
    limit: int | None,
) -> None:
    """Run a named query from sql/queries/ over the catalog.

    Example: lakehouse query pass_rate_by_day_and_model --format csv
    """
    if list_queries or name is None:
        for query_name, description in analytics.named_queries().items():
            click.echo(f"{query_name:32} {description}")
        return
    sql = analytics.named_query_sql(name)
    print_result(open_root(root), sql, write=False, fmt=fmt, output_file=output_file, limit=limit)


@cli.command("sql")
@root_option
@click.argument("statement")
@click.option("--write", is_flag=True, help="Allow statements that change the catalog (default: read-only).")
@format_options
def sql_command(
    root: Path | None,
    statement: str,
    write: bool,
    fmt: str | None,
    output_file: Path | None,
    limit: int | None,
) -> None:
    """Run ad-hoc SQL over the catalog; prints the last statement's rows.

    Tables: evidence, replay_runs, replay_calls, escalations, receipts, quarantine, rag_corpus.

    Read-only unless --write: a statement that could create or change a file or a database
    anywhere (COPY, EXPORT, ATTACH, INSTALL, CREATE, INSERT, CHECKPOINT, SET of a global
    setting, ...) is refused with exit 2, as DuckDB's parser classifies it. Every DuckDB type
    has one form per format: timestamps RFC 3339 in UTC, nested values as JSON, blobs as base64,
    decimals and big integers exact (README, "SQL over the catalog").

    Example: lakehouse sql "SELECT kind, count(*) FROM evidence GROUP BY kind"
    """
    print_result(open_root(root), statement, write=write, fmt=fmt, output_file=output_file, limit=limit)


@cli.command("stats")
@root_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def stats_command(root: Path | None, as_json: bool) -> None:
    """One screen on the root: evidence by kind, last materialize, runs, pass and escalation rates, mirror lag.

    Example: lakehouse stats --root .
    """
    report = analytics.stats(open_root(root))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), default=str))
        return
    click.echo(output.stats_screen(report))


def main() -> None:
    cli(prog_name="lakehouse")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
