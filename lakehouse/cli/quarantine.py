"""``lakehouse quarantine``: the lines materialize could not turn into evidence."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lakehouse import pipeline
from lakehouse.cli.group import cli, root_option, run_options, say, say_outcome
from lakehouse.cli.sql import print_result
from lakehouse.core.paths import open_root
from lakehouse.core.sqlfiles import load
from lakehouse.ingest import materialize


@cli.group("quarantine")
def quarantine_group() -> None:
    """Quarantined lines (data/_kb/quarantine.jsonl): what could not become evidence, why, and retrying them.

    Example: lakehouse quarantine list --stream model_calls
    """


@quarantine_group.command("list")
@root_option
@click.option("--stream", help="Only this stream's lines.")
@click.option("--reason", help="Only reasons containing this text (any case).")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per group on stdout instead of a table."
)
def quarantine_list_command(root: Path | None, stream: str | None, reason: str | None, as_json: bool) -> None:
    """Open quarantined lines grouped by stream and reason, with counts and an example line each.

    Example: lakehouse quarantine list --reason "expected integer"
    """
    print_result(
        open_root(root),
        load("quarantine/list"),
        fmt="jsonl" if as_json else "table",
        limit=0,
        params={"stream": stream, "reason": reason},
    )


@quarantine_group.command("retry")
@root_option
@run_options("Lines quarantined as too long are retried when they fit this limit.")
def quarantine_retry_command(
    root: Path | None, transforms_dir: Path | None, as_json: bool, no_wait: bool, max_line_bytes: int
) -> None:
    """Materialize the open quarantined lines again with the current transforms.

    Lines that now pass become evidence exactly as if read from their stream (same evidence
    ids, their original line numbers); lines that still fail stay open with their new reason.
    Nothing is deleted from data/_kb/quarantine.jsonl: resolutions are appended. Same lock,
    journal and crash safety as materialize; a second retry changes nothing.

    Example: lakehouse quarantine retry --transforms ./my_transforms
    """
    layout = open_root(root, create=True)
    options = materialize.Options(
        transforms_dir=transforms_dir, wait=not no_wait, max_line_bytes=max_line_bytes
    )
    outcome = pipeline.retry_quarantine(layout, options, on_wait=say)
    say_outcome(outcome)
    receipt = outcome.receipt
    if as_json:
        click.echo(json.dumps(receipt, indent=2))
        return
    totals = receipt["totals"]
    say(
        f"retried {totals['lines']:,} open quarantined lines: {totals['resolved']:,} resolved "
        f"({totals['emitted']:,} new evidence records, {totals['duplicates']:,} already there), "
        f"{totals['quarantined']:,} still quarantined"
        + (
            f"; {totals['not_retried']:,} left as they are (not UTF-8, too long, or no transform reads the stream)"
            if totals["not_retried"]
            else ""
        )
    )
