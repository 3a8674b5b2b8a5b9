"""``lakehouse otlp``: OpenTelemetry GenAI traces in, from exporters (serve) or from files (import)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import click

from lakehouse import pipeline, publisher
from lakehouse.cli.group import cli, root_option, say, stopped_by_signals
from lakehouse.cli.ingest import print_receipt_summary, run_materialize
from lakehouse.cli.lake import warn_after_push
from lakehouse.core import outbox
from lakehouse.core.errors import LakehouseError, LockBusyError
from lakehouse.core.paths import Layout, open_root
from lakehouse.ingest import materialize
from lakehouse.otlp import decode, importer
from lakehouse.otlp.refresh import Refresher
from lakehouse.otlp.server import DEFAULT_PORT, TOKEN_ENV, Receiver


@cli.group("otlp")
def otlp_group() -> None:
    """OpenTelemetry traces in: an OTLP/HTTP receiver, or OTLP JSON files.

    Spans land in data/_kb/otel_spans.jsonl (GenAI event log records in otel_logs.jsonl) and
    become evidence, queried as the spans and llm_spans tables.

    Example: lakehouse otlp serve
    """


def _background_materialize(layout: Layout) -> str | None:
    """One materialize of what was received (the root's lock; a joined root then publishes)."""
    outcome = pipeline.materialize(layout, materialize.Options(wait=False))
    totals = outcome.receipt["totals"]
    if totals["emitted"] or totals["quarantined"]:
        say(
            f"{time.strftime('%H:%M:%S')} materialized {totals['emitted']} new evidence records "
            f"({totals['duplicates']} duplicates, {totals['quarantined']} quarantined)"
        )
    return outcome.mirror_warning


@otlp_group.command("serve")
@root_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help=f"Address to listen on; anything but loopback requires ${TOKEN_ENV}.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: a free one, printed).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1024),
    default=decode.DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="Largest request body, also once decompressed (413 above).",
)
@click.option(
    "--materialize-every",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds between background materializes while spans arrive (0: never; run "
    "'lakehouse materialize' yourself).",
)
def serve_command(
    root: Path | None, host: str, port: int, max_body_bytes: int, materialize_every: float
) -> None:
    """Receive OTLP/HTTP traces and GenAI event logs until stopped (Ctrl-C or SIGTERM).

    POST /v1/traces and /v1/logs, protobuf or JSON, gzip or not. A request is answered 200
    only once its spans are on disk; they become evidence within seconds (a background
    materialize). Loopback only unless --host says otherwise, and then exporters must send
    the bearer token in $LH_OTLP_TOKEN.

    Then point the agent's exporter at it: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318.

    Example: lakehouse otlp serve --port 4318
    """
    layout = open_root(root, create=True)
    refresher = Refresher(
        lambda: _background_materialize(layout),
        interval=materialize_every,
        warn=lambda message: say(f"warning: {message}"),
    )
    receiver = Receiver(
        layout,
        host=host,
        port=port,
        token=os.environ.get(TOKEN_ENV) or None,
        max_body_bytes=max_body_bytes,
        on_stored=refresher.notify if materialize_every > 0 else None,
        report=lambda message: say(f"warning: {message}"),
    )
    with stopped_by_signals() as stopping:
        bound_host, bound_port = receiver.address
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        say(
            f"listening on http://{shown}:{bound_port} (OTLP/HTTP: POST /v1/traces, /v1/logs); "
            f"spans to {layout.relative(receiver.store.spans_path)}; Ctrl-C stops"
        )
        if materialize_every > 0:
            refresher.start()
        server = threading.Thread(target=receiver.serve, name="lakehouse-otlp-server", daemon=True)
        server.start()
        publishing = _keep_publisher(layout)
        while not stopping.wait(0.5):
            pass
        say("stopping: finishing the requests in flight ...")
        receiver.stop()
        if materialize_every > 0:
            refresher.stop()
        if publishing:
            publishing()
    c = receiver.counters
    say(
        f"stopped: {c.requests} requests, {c.spans} spans and {c.logs} log records stored, "
        f"{c.rejected} rejected, {c.refused} requests refused"
    )


def _keep_publisher(layout: Layout) -> Callable[[], None] | None:
    """In a root joined to a lake, the receiver keeps the root's publisher (lakehouse/publisher.py) on a
    thread: its background materializes hand their commits over and return. Returns what stops it (after
    one last push), or None (not joined, or another process already publishes for the root)."""
    if not outbox.joined(layout):
        return None
    stop = threading.Event()

    def run() -> None:
        try:
            publisher.run(layout, publisher.DEFAULT_INTERVAL_S, stop, warn_after_push)
        except LockBusyError as exc:
            say(f"note: {exc}; this receiver's commits are left to it")
        except LakehouseError as exc:
            say(f"warning: the lake publisher stopped ({exc}); writers publish themselves again")

    thread = threading.Thread(target=run, name="lakehouse-lake-publisher", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join()

    return halt


@otlp_group.command("import")
@root_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
@click.option("--no-materialize", is_flag=True, help="Only append to the streams; materialize later.")
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON on stdout.")
def import_command(root: Path | None, files: tuple[str, ...], no_materialize: bool, as_json: bool) -> None:
    """Import OTLP JSON files (FILE... or - for standard input), then materialize them.

    One export request a line ({"resourceSpans": [...]} or {"resourceLogs": [...]}), as the
    Collector's and the SDK's JSON file exporters write, or one pretty-printed request per
    file. Lines that are not OTLP are quarantined with their number and reason; importing
    a file again adds no evidence.

    Example: lakehouse otlp import traces.jsonl logs.jsonl
    """
    layout = open_root(root, create=True)
    report = importer.import_files(layout, list(files))
    say(
        f"imported {report.spans} spans and {report.logs} log records from {report.requests} requests "
        f"in {report.files} files ({report.rejected} rejected, {report.quarantined} lines quarantined)"
    )
    for reason in report.reasons:
        say(f"note: rejected: {reason}")
    if report.quarantined:
        say(
            "quarantined lines are in data/_kb/quarantine.jsonl (see 'lakehouse quarantine list --stream otlp_import')"
        )
    if not no_materialize:
        print_receipt_summary(run_materialize(layout, materialize.Options()))
    if as_json:
        click.echo(json.dumps(vars(report), indent=2))
