"""``lakehouse lake``: join a lake (DuckLake: PostgreSQL catalog, S3-API object storage), publish to it, see it."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import click

from lakehouse import lake, pipeline, publisher
from lakehouse.catalog import sync as catalog_sync
from lakehouse.cli.group import cli, root_option, say, stopped_by_signals
from lakehouse.cli.output import table
from lakehouse.core import outbox
from lakehouse.core.paths import open_root


@cli.group("lake")
def lake_group() -> None:
    """A lake many roots (hosts) publish into: DuckLake on PostgreSQL and S3 (opt-in).

    Example: lakehouse lake status
    """


@lake_group.command("init")
@root_option
@click.option(
    "--catalog", required=True, help="'postgres:<libpq string>' (no password: PGPASSWORD or ~/.pgpass)."
)
@click.option("--data", required=True, help="Where the lake's data files go: s3://bucket/prefix/.")
@click.option("--s3-endpoint", help="An S3-API server other than AWS, e.g. http://127.0.0.1:9000.")
@click.option("--s3-url-style", type=click.Choice(lake.config.URL_STYLES), default="vhost", show_default=True)
@click.option("--s3-region", help="The bucket's region (default: $AWS_REGION).")
def lake_init_command(
    root: Path | None,
    catalog: str,
    data: str,
    s3_endpoint: str | None,
    s3_url_style: str,
    s3_region: str | None,
) -> None:
    """Join a lake: write data/lake.json and create the lake's tables if they are missing.

    Keys come from the standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...)
    or AWS config files; nothing secret is written to data/lake.json.

    Example: lakehouse lake init --catalog 'postgres:dbname=lake host=db user=lake' --data s3://team-lake/agents/
    """
    layout = open_root(root, create=True)
    config = lake.LakeConfig(catalog, data, s3_endpoint, s3_url_style, s3_region).check()
    if not layout.catalog.exists():  # a new root: the lake's tables take their columns from the catalog's
        catalog_sync(layout)
    lake.create_tables(layout, config)
    lake.save(layout, config)
    # what the root already holds is owed: the next publishing command sends it
    outbox.committed(outbox.mark(layout, "joined"))
    say(
        f"joined the lake {catalog} ({config.data_path}); data/lake.json written. "
        "'lakehouse lake push' publishes what this root holds (or the next materialize, replay or sync does)"
    )


@lake_group.command("push")
@root_option
def lake_push_command(root: Path | None) -> None:
    """Publish what the lake lacks of this root's evidence, runs, receipts and quarantine.

    Idempotent, by key (evidence_id, recorded_run_id, receipt_id, quarantine_id): the same
    rows pushed from several hosts, at once or not, are one row each in the lake. Checks every
    row against the lake's keys and rebuilds this root's record of what it published
    (data/_state/lake_published.duckdb), which the pushes of writers and publishers read instead.

    Example: lakehouse lake push
    """
    layout = open_root(root)
    report = pipeline.push(layout)
    parts = ", ".join(f"{rows:,} {name}" for name, rows in report.published.items())
    say(
        f"published {parts}"
        + (f" ({report.retries} retries after other hosts' commits)" if report.retries else "")
    )


@lake_group.command("publisher")
@root_option
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=publisher.DEFAULT_INTERVAL_S,
    show_default=True,
    help="Seconds from the start of one push to the next's: everything pending goes in one lake transaction.",
)
@click.option(
    "--maintain-every",
    type=click.FloatRange(min=0),
    default=publisher.DEFAULT_MAINTAIN_EVERY_S,
    show_default=True,
    help="Seconds between maintenances of the lake (as 'lakehouse lake maintain'), taken in turn by the "
    "fleet's publishers: none maintains when another host did within this time. 0: never.",
)
@click.option(
    "--nice",
    "niceness",
    type=click.IntRange(0, 19),
    default=publisher.DEFAULT_NICENESS,
    show_default=True,
    help="How far below the host's own work the publisher runs (added to its Unix nice value): on a host "
    "whose work fills its cores, replays and materializes get the CPU first and the lake can lag far "
    "behind (README, the lake). 0: the same priority.",
)
def lake_publisher_command(root: Path | None, interval: float, maintain_every: float, niceness: int) -> None:
    """Publish this root's commits to its lake in the background, until stopped (SIGTERM or Ctrl-C).

    While it runs, materialize, replay and the other writers of this root only mark what the lake is
    owed and return at once; the publisher pushes everything pending every --interval seconds. When it
    stops, it publishes what is pending once more. One publisher a root; 'lakehouse lake status' shows
    it and how far the lake lags. Every --maintain-every seconds it also maintains the lake, unless
    another host's publisher just did.

    Example: lakehouse lake publisher --root . --interval 2 &
    """
    layout = open_root(root)
    lake.require(layout)
    if not publisher.lower_priority(niceness):  # before DuckDB starts its threads: they inherit it
        say(f"warning: --nice {niceness} has no effect here (this system does not lower a process)")
    say(f"publishing {layout.root} to its lake every {interval:g} s (pid {os.getpid()}); SIGTERM stops")
    with stopped_by_signals() as stop:
        state = publisher.run(layout, interval, stop, warn_after_push, maintain_every_s=maintain_every)
    say(f"publisher stopped after {state.pushes} push(es)")


def warn_after_push(state: publisher.PublisherState) -> None:
    """What a publisher's push could not do, on stderr (the markers wait for its next push)."""
    if state.last_warning:
        say(f"warning: {state.last_warning}")


@lake_group.command("maintain")
@root_option
@click.option(
    "--keep-snapshots",
    type=click.FloatRange(min=0),
    default=lake.KEEP_SNAPSHOTS.total_seconds() / 3600,
    show_default=True,
    help="Hours of snapshots kept for time travel (and the files they read); older ones expire.",
)
@click.option(
    "--file-grace",
    type=click.FloatRange(min=0),
    default=lake.FILE_GRACE.total_seconds() / 60,
    show_default=True,
    help="Minutes a file no snapshot reads any more stays, for the queries under way that listed it.",
)
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
def lake_maintain_command(root: Path | None, keep_snapshots: float, file_grace: float, as_json: bool) -> None:
    """Keep the lake's files few: the rows its views hide deleted, small files merged, old snapshots expired.

    Safe while other hosts publish and analysts read: hosts append without waiting, and a reader's
    snapshot younger than --keep-snapshots keeps its files. Hidden rows are a key two hosts published at
    the same instant (analysts see one) and days before the lake's retention. A running
    'lakehouse lake publisher' does this on its own every --maintain-every seconds.

    Example: lakehouse lake maintain --keep-snapshots 24
    """
    layout = open_root(root)
    report = pipeline.maintain_lake(layout, timedelta(hours=keep_snapshots), timedelta(minutes=file_grace))
    if as_json:
        click.echo(json.dumps(vars(report)))
    else:
        say(
            f"lake maintained: {report.hidden_rows_deleted:,} hidden row(s) deleted, "
            f"{report.files_merged:,} file(s) merged, data files {report.files_before:,} -> "
            f"{'?' if report.files_after is None else format(report.files_after, ',')}, "
            f"{report.snapshots_expired:,} snapshot(s) expired, "
            f"{report.files_deleted + report.orphans_deleted:,} file(s) deleted"
        )
    if report.cleanup_error:
        say(f"warning: {report.cleanup_error}")


@lake_group.command("status")
@root_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per table.")
def lake_status_command(root: Path | None, as_json: bool) -> None:
    """What the lake holds, and how many of this root's rows it lacks ('lakehouse lake push' sends them).

    Example: lakehouse lake status --json
    """
    layout = open_root(root)
    config = lake.require(layout)
    rows = lake.status(layout, config)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    click.echo(f"lake {config.catalog} ({config.data_path})")
    click.echo(table(["table", "in_lake", "local", "not_in_lake"], [list(r.values()) for r in rows]))
    pending = outbox.pending(layout)
    running = publisher.read_state(layout)
    if running:
        say(
            f"publisher running (pid {running['pid']}, every {running['interval_s']:g} s, "
            f"{running['pushes']} push(es), last {running['last_push_at'] or 'none yet'}"
            + (f" in {running['last_push_s']:.2f} s" if running.get("last_push_s") is not None else "")
            + ")"
        )
    if pending:
        lag = outbox.oldest_age_s(pending) or 0.0
        sender = "the publisher sends them" if running else "'lakehouse lake push' sends them"
        say(f"{len(pending)} commit(s) of this root not yet published, the oldest {lag:.1f} s ago: {sender}")
