"""``lakehouse prune``: retention, in the root and (``--lake``) in the lake."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from lakehouse import catalog, lake, pipeline
from lakehouse.cli.group import cli, root_option, say
from lakehouse.core.errors import UsageError
from lakehouse.core.paths import Layout, open_root
from lakehouse.ingest import retention


@cli.command("prune")
@root_option
@click.option(
    "--before",
    "before",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The first day to keep (YYYY-MM-DD, UTC): everything of earlier days is removed.",
)
@click.option("--lake", "with_lake", is_flag=True, help="Also delete them from the lake this root joined.")
@click.option(
    "--yes", is_flag=True, help="Do not ask for confirmation (needed when stdin is not a terminal)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the prune receipt as JSON on stdout.")
def prune_command(root: Path | None, before: datetime, with_lake: bool, yes: bool, as_json: bool) -> None:
    """Remove evidence days and replay runs older than --before.

    From the root: the days' Parquet parts and evidence JSONL files, and the mirrored replay runs
    (the source streams are left alone: what they held was materialized and is not read again).
    With --lake, from the lake too; then its snapshots older than now are expired (no time travel
    to before the prune) and files nothing references are deleted. A prune_receipt.v1 line in
    data/_kb/prune_receipts.jsonl says what was removed. Asks first on a terminal.

    Example: lakehouse prune --before 2026-09-01 --lake --yes
    """
    layout = open_root(root)
    day = before.date()
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    if day > tomorrow:  # keeping nothing is --before tomorrow; a later day is a mistyped year or month
        raise UsageError(
            f"--before {day} is after tomorrow ({tomorrow}): it would remove every day of this root; "
            f"give the first day to keep, at most {tomorrow}"
        )
    config = lake.require(layout) if with_lake else None
    say(_summary(layout, day, config))
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("prune removes data: confirm on a terminal, or pass --yes")
        if not click.confirm("remove them?", default=False, err=True):
            say("nothing removed")
            raise SystemExit(1)
    receipt = pipeline.prune(layout, day, with_lake=with_lake, on_wait=say)
    if receipt["catalog_warning"]:
        say(f"warning: {receipt['catalog_warning']}")
    removed = receipt["removed"]
    say(
        f"pruned before {day}: {removed['evidence_rows']:,} evidence rows ({len(removed['evidence_days'])} days, "
        f"{len(removed['files'])} files), {removed['replay_runs']:,} replay runs"
    )
    if receipt["lake"]:
        gone = receipt["lake"]
        if gone["cleanup_error"]:
            say(f"warning: {gone['cleanup_error']}")
        say(
            f"lake: {gone['evidence']:,} evidence rows and {gone['replay_runs']:,} replay runs deleted, "
            f"{gone['snapshots_expired']} snapshots expired, {gone['files_deleted'] + gone['orphans_deleted']} files removed"
        )
    if as_json:
        click.echo(json.dumps(receipt))


def _summary(layout: Layout, day: date, config: lake.LakeConfig | None) -> str:
    planned = retention.plan(layout, day)
    text = (
        f"prune before {day}: {planned.evidence_rows:,} evidence rows over {len(planned.days)} days "
        f"({len(planned.files)} files) and {catalog.runs_before(layout, day):,} replay runs from this root"
    )
    if config is not None:
        there = lake.count_before(layout, config, day)
        text += f"; {there.evidence:,} evidence rows and {there.replay_runs:,} replay runs from the lake"
    return text
