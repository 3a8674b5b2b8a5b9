"""Commands of the ingest stage: materialize, compact, rebuild, sync."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lakehouse import catalog, pipeline
from lakehouse.cli.group import (
    cli,
    embedding_model_option,
    root_option,
    run_options,
    say,
    say_outcome,
)
from lakehouse.cli.progress import Bar
from lakehouse.core.paths import Layout, open_root
from lakehouse.ingest import maintenance, materialize

# A stream whose new lines are at least half quarantined, and at least this many, gets a warning.
QUARANTINE_ALARM_LINES = 10


def print_receipt_summary(outcome: materialize.Outcome) -> None:
    receipt = outcome.receipt
    totals = receipt["totals"]
    say(
        f"materialized {totals['emitted']} new evidence records from {totals['lines']} new lines "
        f"({totals['duplicates']} duplicates skipped, {totals['quarantined']} quarantined) "
        f"into {totals['partitions']} day partitions in {receipt['duration_ms']} ms"
    )
    if outcome.corpus_added:
        say(
            f"distilled {outcome.corpus_added:,} playbook{'' if outcome.corpus_added == 1 else 's'} "
            f"into the RAG corpus, indexed, in {outcome.corpus_ms} ms"
        )
    for item in receipt["inputs"]:
        if item["reset"]:
            say(f"note: {item['path']} {item['reset']} since the last run; read again from the start")
        if item["pending_bytes"]:
            say(
                f"note: {item['path']} ends with {item['pending_bytes']} bytes without a newline "
                "(a line still being written): left for the next run, and what is appended next completes it"
            )
    for item in receipt["inputs"]:
        read = item["lines"] - item["blank_lines"]
        if item.get("quarantined", 0) >= QUARANTINE_ALARM_LINES and 2 * item["quarantined"] >= read:
            say(
                f"warning: {item['stream']}: {item['quarantined']:,} of {read:,} new lines quarantined, "
                f"most often: {item['top_reason']} (see 'lakehouse quarantine list --stream {item['stream']}')"
            )
    if totals["quarantined"]:
        say("quarantined lines are in data/_kb/quarantine.jsonl (see 'lakehouse quarantine list')")


def run_materialize(layout: Layout, options: materialize.Options) -> materialize.Outcome:
    bar = Bar()
    try:
        outcome = pipeline.materialize(
            layout,
            options,
            progress=bar.update,
            on_wait=say,
            index_progress=lambda done: bar.fraction("vector index", done),
            on_phase=lambda name: bar.phase(
                {"corpus": "distilling playbooks into the RAG corpus"}.get(name, name)
            ),
        )
    finally:
        bar.close()
    say_outcome(outcome)
    return outcome


@cli.command("materialize")
@root_option
@run_options("Longer lines are quarantined.")
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
        print_receipt_summary(outcome)


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
    report = pipeline.rebuild(layout, on_wait=say)
    say(f"rebuilt {report.rows} evidence records in {report.days} days; catalog recreated")


@cli.command("sync")
@root_option
def sync_command(root: Path | None) -> None:
    """Catch the catalog (data/lakehouse.duckdb) up with the JSONL and Parquet files.

    Idempotent; rebuilds the catalog's tables and views (other writes rebuild only those that are
    missing or from another version), and replaces a damaged catalog (the old file is kept beside it).

    Example: lakehouse sync --root .
    """
    layout = open_root(root, create=True)
    report = catalog.sync(layout, full=True)
    if report.repaired:
        say(f"warning: the catalog was damaged; moved it to {report.repaired} and rebuilt it")
    say(
        f"catalog synced: evidence view over {report.evidence_parts} Parquet parts; "
        f"{report.receipts} receipts, {report.quarantine} quarantined lines added"
        + ("; data/prices.csv loaded" if report.prices_loaded else "")
    )
    warning = pipeline.publish(layout, force=True)
    if warning:
        say(f"warning: {warning}")
