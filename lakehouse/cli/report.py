"""``lakehouse report``: one offline HTML file with the charts of run history, evidence and quarantine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from lakehouse import report
from lakehouse.catalog import prices
from lakehouse.cli.group import cli, lake_option, root_option, say
from lakehouse.cli.progress import Bar
from lakehouse.core.paths import open_root


def _two_labels(
    ctx: click.Context, param: click.Parameter, labels: tuple[str, str] | None
) -> tuple[str, str] | None:
    """One label given and an option after it: click took the option for the second label."""
    if labels and labels[1].startswith("--"):
        raise click.BadParameter(
            f"takes two labels, BASE CANDIDATE: {labels[1]!r} is an option", param_hint="'--compare'"
        )
    return labels


@cli.command("report")
@root_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the page (default: data/report.html under the root); replaced atomically.",
)
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), help="First day to include (YYYY-MM-DD; default: all)."
)
@click.option(
    "--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day to include (YYYY-MM-DD; default: all)."
)
@click.option(
    "--compare",
    "compare_labels",
    nargs=2,
    metavar="BASE CANDIDATE",
    callback=_two_labels,
    help="Add the comparison of two labels' runs (as 'lakehouse compare'; over all their runs).",
)
@lake_option
def report_command(
    root: Path | None,
    on_lake: bool,
    output: Path | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    compare_labels: tuple[str, str] | None,
) -> None:
    """Write one self-contained HTML report and print its path.

    Headline figures (runs, pass and escalation rates, recovery, tokens, evidence, open
    quarantine, mirror lag) and charts: pass rate by day and model, escalation and recovery by
    local model, tokens by model and day, latency p50/p95, top failure reasons, evidence by kind
    and day, quarantine by stream and reason, citations of retrieved playbooks, the most
    retrieved playbooks. Every figure is SQL under sql/ (the named queries where one fits) run
    on the catalog; the page opens offline in any browser and fetches nothing.

    Example: lakehouse report --since 2026-11-01 --compare baseline candidate
    """
    layout = open_root(root)
    bar = Bar()
    steps = len(report.figures.FIGURES) + 3
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        bar.fraction(f"report: {name}"[:18], done / steps)

    try:
        path, figures = report.write(
            layout,
            output,
            since.date() if since else None,
            until.date() if until else None,
            tuple(compare_labels) if compare_labels else None,
            progress=step,
            on_lake=on_lake,
        )
    finally:
        bar.close()
    if figures.prices_stale:
        say(f"warning: {prices.STALE_WARNING}")
    say(f"report written: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    click.echo(str(path))
