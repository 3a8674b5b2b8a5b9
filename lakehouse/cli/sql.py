"""SQL over the catalog: ``query``, ``sql`` (streamed in every output format) and ``stats``."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import duckdb

from lakehouse import lake
from lakehouse.catalog import analytics
from lakehouse.cli import output
from lakehouse.cli.group import (
    cli,
    lake_option,
    root_option,
    say,
)
from lakehouse.core.files import atomic_output
from lakehouse.core.paths import Layout, open_root


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
    layout: Layout,
    sql: str,
    *,
    write: bool = False,
    fmt: str | None = None,
    output_file: Path | None = None,
    limit: int | None = None,
    params: dict[str, Any] | None = None,
    on_lake: bool = False,
) -> None:
    """Run SQL and stream its result to stdout or --output in the chosen format."""
    fmt = result_format(fmt, output_file)
    if fmt == "parquet" and output_file is None:
        raise click.UsageError("--format parquet needs --output FILE")
    prepare = _lake_default(layout) if on_lake else None
    with analytics.query(layout, sql, write=write, params=params, prepare=prepare) as (result, warning):
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


def _lake_default(layout: Layout) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """Attach the root's lake read-only and make it the default database (--lake)."""
    config = lake.require(layout)

    def prepare(con: duckdb.DuckDBPyConnection) -> None:
        lake.attach(con, config, read_only=True)
        con.execute("USE lake")

    return prepare


@cli.command("query")
@root_option
@click.argument("name", required=False)
@click.option("--list", "list_queries", is_flag=True, help="List the named queries with their descriptions.")
@lake_option
@format_options
def query_command(
    root: Path | None,
    name: str | None,
    list_queries: bool,
    on_lake: bool,
    fmt: str | None,
    output_file: Path | None,
    limit: int | None,
) -> None:
    """Run a named query from sql/queries/ over the catalog.

    Example: lakehouse query pass_rate_by_day_and_model --format csv
    """
    if list_queries and name is not None:
        raise click.UsageError("give NAME or --list, not both")
    if list_queries or name is None:
        for query_name, description in analytics.named_queries().items():
            click.echo(f"{query_name:32} {description}")
        return
    sql = analytics.named_query_sql(name)
    print_result(
        open_root(root), sql, write=False, fmt=fmt, output_file=output_file, limit=limit, on_lake=on_lake
    )


@cli.command("sql")
@root_option
@click.argument("statement")
@click.option("--write", is_flag=True, help="Allow statements that change the catalog (default: read-only).")
@lake_option
@format_options
def sql_command(
    root: Path | None,
    statement: str,
    write: bool,
    on_lake: bool,
    fmt: str | None,
    output_file: Path | None,
    limit: int | None,
) -> None:
    """Run ad-hoc SQL over the catalog; prints the last statement's rows.

    Tables: evidence, replay_runs, replay_calls, escalations, receipts, quarantine, rag_corpus,
    spans, llm_spans (OpenTelemetry traces: lakehouse otlp), prices and model_call_evidence (costs:
    lakehouse prices).

    Read-only unless --write: a statement that could create or change a file or a database
    anywhere (COPY, EXPORT, ATTACH, INSTALL, CREATE, INSERT, CHECKPOINT, SET of a global
    setting, ...) is refused with exit 2, as DuckDB's parser classifies it. Every DuckDB type
    has one form per format: timestamps RFC 3339 in UTC, nested values as JSON, blobs as base64,
    decimals and big integers exact (README, "SQL over the catalog").

    Example: lakehouse sql "SELECT kind, count(*) FROM evidence GROUP BY kind"
    """
    if write and on_lake:
        raise click.UsageError("--lake is read-only: the lake is written by 'lakehouse lake push'")
    print_result(
        open_root(root),
        statement,
        write=write,
        fmt=fmt,
        output_file=output_file,
        limit=limit,
        on_lake=on_lake,
    )


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
