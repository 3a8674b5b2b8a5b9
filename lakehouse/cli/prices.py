"""``lakehouse prices``: the price table (data/prices.csv) that gives model calls their cost_usd."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click
import duckdb

from lakehouse import pipeline
from lakehouse.catalog import prices
from lakehouse.cli.group import cli, only_with, root_option, say
from lakehouse.cli.output import table
from lakehouse.core import db
from lakehouse.core.paths import Layout, open_root
from lakehouse.core.sqlfiles import load


@cli.group("prices", invoke_without_command=True)
@root_option
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per price on stdout instead of a table."
)
@click.pass_context
def prices_group(ctx: click.Context, root: Path | None, as_json: bool) -> None:
    """List the prices (data/prices.csv): USD per million input and output tokens per model, from a day on.

    Edit the file by hand or with 'lakehouse prices set'; the catalog loads it on its next write
    (replay_calls, llm_spans and model_call_evidence then carry cost_usd: NULL where a model has no
    price, never 0). Also lists the models whose calls have tokens but no price.

    Example: lakehouse prices set gpt-4o-mini --input 0.15 --output 0.60
    """
    if ctx.invoked_subcommand is not None:
        for name in ("root", "as_json"):  # options of the listing, not of the subcommand: never ignored
            only_with(ctx, name, False, f"without a subcommand (give them after '{ctx.invoked_subcommand}')")
        return
    layout = open_root(root)
    _show(prices.read(layout), as_json)
    if layout.catalog.exists():
        unpriced = _unpriced(layout)
        if unpriced:
            say("no price for: " + ", ".join(f"{model} ({calls:,} calls)" for model, calls in unpriced))


@prices_group.command("set")
@root_option
@click.argument("model")
@click.option(
    "--input",
    "input_usd",
    type=click.FloatRange(min=0),
    required=True,
    help="USD per million input (prompt) tokens.",
)
@click.option(
    "--output",
    "output_usd",
    type=click.FloatRange(min=0),
    required=True,
    help="USD per million output (completion) tokens.",
)
@click.option(
    "--from",
    "valid_from",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The first day (UTC) the price holds (default: always; a model's later row takes over from its day).",
)
def prices_set_command(
    root: Path | None, model: str, input_usd: float, output_usd: float, valid_from: datetime | None
) -> None:
    """Set MODEL's price (from --from on), replacing its price from that same day if there is one.

    Example: lakehouse prices set qwen2.5-coder:32b --input 0.30 --output 0.90 --from 2026-12-01
    """
    layout = open_root(root, create=True)
    day = valid_from.date() if valid_from else prices.ALWAYS
    table_now, warning = pipeline.set_price(layout, prices.Price(model.strip(), input_usd, output_usd, day))
    if warning:
        say(f"warning: {warning}")
    _show(table_now, False)


def _show(rows: list[prices.Price], as_json: bool) -> None:
    if as_json:
        for p in rows:
            valid_from = None if p.valid_from == prices.ALWAYS else p.valid_from.isoformat()
            click.echo(json.dumps({**p.__dict__, "valid_from": valid_from}))
        return
    if not rows:
        say("no prices yet: lakehouse prices set MODEL --input USD --output USD (per million tokens)")
        return
    click.echo(
        table(
            prices.HEADER,
            [
                [p.model, f"{p.input_usd_per_mtok:g}", f"{p.output_usd_per_mtok:g}", _day(p.valid_from)]
                for p in rows
            ],
        )
    )


def _day(day: date) -> str:
    return "always" if day == prices.ALWAYS else day.isoformat()


def _unpriced(layout: Layout) -> list[tuple[str, int]]:
    """Models priced nowhere, from the catalog as it is (reading never writes)."""
    try:
        with db.catalog(layout.catalog, read_only=True) as con:
            return con.execute(load("prices/unpriced")).fetchall()
    except duckdb.Error:  # a catalog from before prices: nothing to say yet
        return []
