"""``lakehouse compare``: did the candidate's runs get worse than the base's?"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from lakehouse import lake
from lakehouse.catalog import compare
from lakehouse.cli.group import cli, lake_option, root_option, say
from lakehouse.cli.output import table
from lakehouse.core.paths import open_root

TASK_COLUMNS = [
    "change",
    "input_task",
    "base_passed",
    "candidate_passed",
    "retrieval_jaccard",
    "answer_changed",
]


@cli.command("compare")
@root_option
@click.argument("base")
@click.argument("candidate")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table: the summary, then regressions first; json: one object; csv: one row per paired task.",
)
@click.option(
    "--fail-on-regression", is_flag=True, help="Exit 1 when the candidate has a regression (for CI)."
)
@click.option(
    "--max-regressions",
    type=click.IntRange(min=0),
    default=None,
    help="Exit 1 when there are more than N regressions (a CI gate: implies --fail-on-regression).",
)
@lake_option
def compare_command(
    root: Path | None,
    base: str,
    candidate: str,
    on_lake: bool,
    fmt: str,
    fail_on_regression: bool,
    max_regressions: int | None,
) -> None:
    """Pair BASE's and CANDIDATE's runs (labels) by task and say what got worse.

    A task's latest run on each side is paired. A regression passed in BASE and not in CANDIDATE,
    a fix the reverse. The report has both pass rates, their paired difference with a 95 %
    interval, and McNemar's exact p on the discordant pairs (README, "Compare"). The same rows come
    from the catalog: SELECT * FROM compare_runs('BASE', 'CANDIDATE').

    Example: lakehouse compare baseline candidate --fail-on-regression
    """
    layout = open_root(root)
    if on_lake:  # every host's runs of the two labels
        with lake.reading(layout, lake.require(layout)) as con:
            report = compare.compare_on(con, base, candidate)
    else:
        report, caveat = compare.compare(layout, base, candidate)
        if caveat:
            say(f"warning: {caveat}")
    if fmt == "json":
        sys.stdout.flush()
        sys.stdout.buffer.write(
            json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        )
        sys.stdout.buffer.flush()
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        names = list(report["tasks"][0])
        writer.writerow(names)
        writer.writerows([[_cell(task[n]) for n in names] for task in report["tasks"]])
        click.echo(buffer.getvalue(), nl=False)
    else:
        click.echo(_screen(report))
    allowed = max_regressions or 0
    if (fail_on_regression or max_regressions is not None) and report["regressions"] > allowed:
        say(f"{report['regressions']} regressions (allowed: {allowed})")
        raise SystemExit(1)


def _cell(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict | bool) or value is None else str(value)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The comparison's summary, a line a figure."""
    low, high = report["ci95"]
    lines = [
        f"{report['candidate']} against {report['base']}: {report['pairs']:,} tasks paired "
        f"(unpaired: {report['unpaired']['base']:,} only in base, {report['unpaired']['candidate']:,} only in candidate)",
        f"pass rate      {report['base_pass_rate']:.1%} -> {report['candidate_pass_rate']:.1%} "
        f"({report['delta']:+.1%}, 95% interval {low:+.1%} to {high:+.1%})",
        f"regressions    {report['regressions']:,}",
        f"fixes          {report['fixes']:,}",
        f"unchanged      {report['unchanged_pass']:,} passing, {report['unchanged_fail']:,} failing",
        f"McNemar p      {report['mcnemar_p']:.4g}",
        cost_line(report),
    ]
    gates = report.get("gates_versions") or {}
    if gates and gates.get("base") != gates.get("candidate"):
        lines.append(
            f"judged by      different gates: base {', '.join(gates['base'])}; "
            f"candidate {', '.join(gates['candidate'])}"
        )
    return lines


def cost_line(report: dict[str, Any]) -> str:
    """Each side's cost over the pairs priced on both sides, and the paired difference per task."""
    priced, pairs = report["priced_pairs"], report["pairs"]
    if not priced:
        return (
            f"cost           unknown: no pair has a price on both sides ({pairs:,} pairs; lakehouse prices)"
        )
    base, candidate = report["base_cost_usd"], report["candidate_cost_usd"]
    change = f" ({(candidate - base) / base:+.1%})" if base else ""
    line = f"cost           ${base:,.4f} -> ${candidate:,.4f}{change} over {priced:,} priced pairs"
    if report["cost_delta_ci95"]:
        low, high = report["cost_delta_ci95"]
        line += f"; per task {_usd(report['cost_delta_usd'])} (95% interval {_usd(low)} to {_usd(high)})"
    if priced < pairs:
        line += f"; {pairs - priced:,} pairs without a price"
    return line


def _usd(value: float) -> str:
    return f"{'-' if value < 0 else '+'}${abs(value):.6f}"


def _screen(report: dict[str, Any]) -> str:
    lines = summary_lines(report)
    changed = [t for t in report["tasks"] if t["change"] != "same"]
    if changed:
        rows = [[t[c] for c in TASK_COLUMNS] + ["; ".join(t["candidate_reasons"] or [])] for t in changed]
        lines += ["", table([*TASK_COLUMNS, "candidate_reasons"], rows)]
    return "\n".join(lines)
