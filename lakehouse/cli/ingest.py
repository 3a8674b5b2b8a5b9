"""Commands of the ingest stage: materialize, demo, compact, rebuild, sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lakehouse import catalog, demo, pipeline, report
from lakehouse.catalog import compare
from lakehouse.cli import output
from lakehouse.cli.compare import summary_lines
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
    comparison = compare.compare(layout, *demo.COMPARED_LABELS)
    click.echo(f"\nCompare (lakehouse compare {' '.join(demo.COMPARED_LABELS)})")
    click.echo("\n".join(summary_lines(comparison)))
    page, _ = report.write(layout, compare_labels=demo.COMPARED_LABELS)
    click.echo(f"\nReport (lakehouse report --compare {' '.join(demo.COMPARED_LABELS)}): {page}")
    click.echo("open it in a browser; it works offline")


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
    warning = pipeline.publish(layout, force=True)
    if warning:
        say(f"warning: {warning}")
