"""``lakehouse demo``: synthetic streams, materialized, replayed and summarised (what a newcomer runs first)."""

from __future__ import annotations

from pathlib import Path

import click

from lakehouse import demo, report
from lakehouse.catalog import compare
from lakehouse.cli import output
from lakehouse.cli.compare import summary_lines
from lakehouse.cli.group import cli, root_option, say
from lakehouse.cli.ingest import print_receipt_summary, run_materialize
from lakehouse.core.paths import open_root
from lakehouse.ingest import materialize


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
    print_receipt_summary(outcome)
    warning = demo.replay_examples(layout)
    say(f"replayed {len(demo.DEMO_TASKS)} tasks in dry run (data/_kb/replay_runs.jsonl)")
    if outcome.mirror_warning or warning:
        say(f"warning: {warning}" if warning else "the summary needs the catalog: run 'lakehouse sync'")
        return
    for title, columns, rows in demo.summary(layout):
        click.echo(f"\n{title}")
        click.echo(output.table(columns, rows))
    comparison, _ = compare.compare(layout, *demo.COMPARED_LABELS)
    click.echo(f"\nCompare (lakehouse compare {' '.join(demo.COMPARED_LABELS)})")
    click.echo("\n".join(summary_lines(comparison)))
    page, _ = report.write(layout, compare_labels=demo.COMPARED_LABELS)
    click.echo(f"\nReport (lakehouse report --compare {' '.join(demo.COMPARED_LABELS)}): {page}")
    click.echo("open it in a browser; it works offline")
