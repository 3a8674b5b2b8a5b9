"""``lakehouse replay``: one task, or a batch of them."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lakehouse import gates, pipeline, replay
from lakehouse.catalog import captured as captured_spans
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
from lakehouse.gates import judge
from lakehouse.gateway import Gateway
from lakehouse.gateway import gateway_url as resolve_gateway_url
from lakehouse.replay import batch, captured, regate, rerun


def gates_option(extra: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--gates",
        "gate_dir",
        type=click.Path(exists=True, file_okay=False, resolve_path=True, path_type=Path),
        help="A directory of your gates (NAME.sql, NAME.judge.md), judged after the built-in four "
        f'(README, "Gates"){extra}.',
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
    type=click.IntRange(min=1, max=replay.MAX_K),
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
    metavar="RUN_ID|label:NAME|span:ID|spans:PREDICATE",
    help="Re-run a recorded run (repeatable; label:NAME: every run with that label) under the options it "
    "recorded; options given here win. The re-runs get --label (default: rerun) and provenance.replay_of. "
    'span:SPAN_ID or spans:"SQL condition over llm_spans" replays captured model calls with their '
    "recorded messages (label default: candidate); their captured answers are judged and logged once "
    "under the label 'captured', so 'lakehouse compare captured candidate' pairs them.",
)
@click.option(
    "--label",
    help="Name the runs (provenance.label, the catalog's replay_runs.label) to compare them with others later; "
    'a --tasks line may carry its own "label".',
)
@gates_option('; a --tasks line may carry its own "gates"')
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
    gate_dir: Path | None,
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
        raise click.UsageError(
            "give one of TASK, --tasks FILE or --of RUN_ID|label:NAME|span:ID|spans:PREDICATE"
        )
    only_with(ctx, "concurrency", task is None, "with --tasks or --of (many replays)")
    only_with(ctx, "as_json", task is not None, "with a single TASK (a batch prints its summary)")
    only_with(ctx, "fusion", method == "hybrid", "with --retrieval hybrid")
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
        fusion=fusion,
        embedding_model=embedding_model,
        label=label,
        gates=None if gate_dir is None else str(gate_dir),
    )
    if of:
        _rerun(layout, list(of), request, concurrency)
        return
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
    "gate_dir": "gates",
}


def _rerun(layout: Layout, selectors: list[str], template: replay.ReplayRequest, concurrency: int) -> None:
    spans = [s for s in selectors if captured_spans.is_span_selector(s)]
    runs = [s for s in selectors if not captured_spans.is_span_selector(s)]
    requests = _recorded_requests(layout, runs, template.label or "rerun") if runs else []
    if spans:
        if template.label == captured.CAPTURED_LABEL:
            raise UsageError(
                f"--label {captured.CAPTURED_LABEL} names the captured answers: give the candidate another"
            )
        requests += _captured_requests(layout, spans, replace(template, label=template.label or "candidate"))
    _run_batch(layout, requests, concurrency, batch.BatchReport())


def _recorded_requests(layout: Layout, selectors: list[str], label: str) -> list[replay.ReplayRequest]:
    ctx = click.get_current_context()
    overrides = {
        field: ctx.params[param]
        for param, field in OVERRIDABLE.items()
        if ctx.get_parameter_source(param) not in (None, click.core.ParameterSource.DEFAULT)
    }
    if "gates" in overrides:
        overrides["gates"] = str(overrides["gates"])
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
    return selection.requests


def _captured_requests(
    layout: Layout, selectors: list[str], template: replay.ReplayRequest
) -> list[replay.ReplayRequest]:
    """The candidate's requests for the selected captured calls, after logging the captured answers."""
    spans, unknown = captured_spans.select(layout, selectors)
    for selector in unknown:
        say(f"skipped {selector}: no captured model call (llm_spans) matches it")
    if not spans:
        raise UsageError("nothing to replay: no captured model call matches " + ", ".join(unknown))
    requests = [r for r in (captured.request_for(s, template) for s in spans) if r is not None]
    if len(requests) < len(spans):
        say(f"skipped {len(spans) - len(requests)} captured calls: no message text was captured")
    gate_set = gates.load(template.gates)
    logged = captured.logged_spans(layout)
    with contextlib.ExitStack() as stack:
        judge_caller = judge.dry_run_caller
        if gate_set.judges and not template.dry_run:
            judge_caller = stack.enter_context(Gateway(resolve_gateway_url(template.gateway_url))).chat
        added = captured.log_captured(layout, spans, logged, gate_set, judge_caller)
    say(
        f"{len(spans)} captured calls selected; {added} captured answers logged under '{captured.CAPTURED_LABEL}'"
    )
    return requests


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
    warn_raised(report.raised, report.runs, "replay again")
    say(
        f"{report.runs} runs: {report.passed} passed, {report.runs - report.passed} not passed, "
        f"{report.escalated} escalated; {len(report.skipped)} task lines skipped, {len(report.errors)} errors"
    )
    sys.exit(4 if report.errors else 0 if report.passed == report.runs else 1)


@cli.command("regate")
@root_option
@click.option("--label", "label", required=True, help="The label whose recorded runs are judged again.")
@click.option("--as", "new_label", required=True, help="The label of the re-judged runs (a new one).")
@gates_option(" (judge gates are refused: they would call a model)")
def regate_command(root: Path | None, label: str, new_label: str, gate_dir: Path | None) -> None:
    """Judge the recorded runs of --label again with the current gates, calling no model.

    Each run is logged again under --as with the same task, bundle, calls and answer, the new
    verdict, and provenance.regate_of naming the original, so `lakehouse compare LABEL NEW` lists
    exactly the runs the gates now judge differently. The log keeps an answer's first 4,000
    characters: that is what a re-judge sees. Judge gates are refused (they would call a model).

    Example: lakehouse regate --label baseline --gates ./gates --as baseline-strict
    """
    layout = open_root(root)
    report = regate.regate(layout, label, new_label, gate_dir)
    warning = pipeline.mirror_runs(layout)
    if warning:
        say(f"warning: {warning}")
    say(
        f"{report.runs:,} runs of {label!r} re-judged as {new_label!r} (gates {report.gates_version}): "
        f"{report.passed:,} pass (was {report.was_passed:,}); {report.now_fail:,} now fail, "
        f"{report.now_pass:,} now pass"
        + (
            f"; {report.not_judged:,} kept their verdict (no answer: every call failed)"
            if report.not_judged
            else ""
        )
        + (
            f"; {report.resumed:,} re-judged before (an interrupted regate, resumed)"
            if report.resumed
            else ""
        )
    )
    warn_raised(report.raised, report.runs, "regate under a new --as")
    say(f"next: lakehouse compare {label} {new_label}")


def warn_raised(raised: dict[str, int], runs: int, then: str) -> None:
    """Each gate that raised instead of judging (a bug in the gate, not a verdict), with how many runs."""
    for gate, count in sorted(raised.items()):
        say(
            f"warning: gate {gate!r} raised on {count:,} of {runs:,} runs instead of judging them (their "
            f"reason says '{gate}{gates.RAISED}...'): fix it, then {then}"
        )
