"""``lakehouse replay``: one task, or a batch of them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from lakehouse import pipeline, replay
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
from lakehouse.replay import batch, rerun


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
    help="With --tasks or --of: replays in flight.",
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
@click.option(
    "--of",
    "of",
    multiple=True,
    metavar="RUN_ID|label:NAME",
    help="Re-run a recorded run (repeatable; label:NAME: every run with that label) under the options it "
    "recorded; options given here win. The re-runs get --label (default: rerun) and provenance.replay_of.",
)
@click.option(
    "--label",
    help="Name the runs (provenance.label, the catalog's replay_runs.label) to compare them with others later; "
    'a --tasks line may carry its own "label".',
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="With a single TASK: print the run record (replay_run.v1) as JSON.",
)
@click.pass_context
def replay_command(
    ctx: click.Context,
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
    fusion: str,
    embedding_model: str | None,
    of: tuple[str, ...],
    label: str | None,
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
    if sum(value is not None and value != () for value in (task, tasks_file, of)) != 1:
        raise click.UsageError("give one of TASK, --tasks FILE or --of RUN_ID|label:NAME")
    only_with(ctx, "concurrency", task is None, "with --tasks or --of (many replays)")
    only_with(ctx, "as_json", task is not None, "with a single TASK (a batch prints its summary)")
    only_with(ctx, "fusion", method == "hybrid", "with --retrieval hybrid")
    layout = open_root(root, create=True)
    if of:
        _rerun(layout, list(of), label or "rerun", concurrency)
        return
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
        fusion=fusion,
        embedding_model=embedding_model,
        label=label,
    )
    if tasks_file is not None:
        _replay_batch(layout, tasks_file, request, concurrency)
        return
    record = replay.run(request, layout)
    warning = pipeline.mirror_runs(layout)
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


# Options a re-run takes from the command line only when given there: parameter name -> request field.
OVERRIDABLE = {
    "allow_escalation": "allow_escalation",
    "local_only": "local_only",
    "no_retrieval": "no_retrieval",
    "dry_run": "dry_run",
    "local_model": "local_model",
    "escalation_model": "escalation_model",
    "gateway_url": "gateway_url",
    "k": "k",
    "method": "retrieval",
    "fusion": "fusion",
    "embedding_model": "embedding_model",
}


def _rerun(layout: Layout, selectors: list[str], label: str, concurrency: int) -> None:
    ctx = click.get_current_context()
    overrides = {
        field: ctx.params[param]
        for param, field in OVERRIDABLE.items()
        if ctx.get_parameter_source(param) not in (None, click.core.ParameterSource.DEFAULT)
    }
    selection = rerun.select(layout, selectors, overrides, label)
    if not selection.requests:
        raise UsageError(
            "nothing to re-run: no recorded run with the id or label " + ", ".join(selection.unknown)
        )
    for selector in selection.unknown:
        say(f"skipped {selector}: no recorded run with that id or label")
    if selection.without_provenance:
        count = len(selection.without_provenance)
        say(f"note: {count} runs recorded no options (no provenance): re-run with the defaults")
    _run_batch(layout, selection.requests, concurrency, batch.BatchReport())


def _replay_batch(layout: Layout, tasks_file: Path, defaults: replay.ReplayRequest, concurrency: int) -> None:
    report = batch.BatchReport()
    requests = batch.read_tasks(tasks_file, defaults, report)
    for problem in report.skipped:
        say(f"skipped {problem}")
    _run_batch(layout, requests, concurrency, report)


def _run_batch(
    layout: Layout, requests: list[replay.ReplayRequest], concurrency: int, report: batch.BatchReport
) -> None:
    """Run requests with the batch mode's concurrency, progress and summary; exits with its code."""
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
    warning = pipeline.mirror_runs(layout)
    if warning:
        say(f"warning: {warning}")
    say(
        f"{report.runs} runs: {report.passed} passed, {report.runs - report.passed} not passed, "
        f"{report.escalated} escalated; {len(report.skipped)} task lines skipped, {len(report.errors)} errors"
    )
    sys.exit(4 if report.errors else 0 if report.passed == report.runs else 1)
