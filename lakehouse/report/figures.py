"""The report's figures: SQL files run on the catalog, over a window of days.

Everything is aggregated in DuckDB (nothing but a few hundred rows a figure leaves it). The window
is a set of temporary views named like the catalog's tables (``sql/report/window.sql``), so the
named queries of ``lakehouse query`` run unchanged and the two never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from lakehouse import lake
from lakehouse.catalog import analytics, compare, mirror, prices
from lakehouse.core import db
from lakehouse.core.errors import CatalogError, UsageError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_ident, quote_literal, render

# Figure name -> the SQL file that computes it (named queries first, where one fits).
FIGURES = {
    "pass_rate_by_period_and_model": "report/pass_rate_by_period_and_model",
    "escalation_rate_by_model": "queries/escalation_rate_by_model",
    "token_spend_by_model_and_day": "queries/token_spend_by_model_and_day",
    "cost_by_model_and_day": "queries/cost_by_model_and_day",
    "top_failure_reasons": "queries/top_failure_reasons",
    "evidence_by_kind_and_day": "queries/evidence_by_kind_and_day",
    "runs_by_day": "report/runs_by_day",
    "latency_by_model": "report/latency_by_model",
    "quarantine_by_stream_and_reason": "report/quarantine_by_stream_and_reason",
    "citations_by_period": "report/citations_by_period",
    "top_playbooks": "report/top_playbooks",
}
EARLIEST, LATEST = dt.date(1, 1, 1), dt.date(9999, 12, 31)


@dataclass
class Figures:
    since: dt.date | None
    until: dt.date | None
    headline: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mirror_lines_behind: int = 0
    prices_stale: bool = False  # data/prices.csv changed since the catalog loaded it: costs are old
    comparison: dict[str, Any] | None = None


def collect(
    layout: Layout,
    since: dt.date | None = None,
    until: dt.date | None = None,
    compare_labels: tuple[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    on_lake: bool = False,
) -> Figures:
    """Every figure of the report, computed on the catalog (caught up first when it can be), or
    with ``on_lake`` on the lake the root joined (every host's runs, evidence and quarantine)."""
    if since and until and since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    mirror.require_for_reading(layout, "report")  # the report is read from the catalog as it is
    step = progress or (lambda _: None)
    config = lake.require(layout) if on_lake else None
    opened = lake.reading(layout, config) if config else db.catalog(layout.catalog, read_only=True)
    try:
        with opened as con:
            comparison = None
            if compare_labels:  # before the window: a comparison covers the labels' whole history
                step("compare")
                comparison = compare.compare_on(con, *compare_labels)
            local = _window(con, since or EARLIEST, until or LATEST)
            step("headline")
            figures = Figures(since, until, _rows(con, load("report/headline"))[0], comparison=comparison)
            for name, sql_file in FIGURES.items():
                step(name)
                figures.tables[name] = _rows(con, load(sql_file))
            lag = analytics.mirror_lag(layout, con, local)
            figures.prices_stale = prices.is_stale(con, layout, local)
    except duckdb.Error as exc:
        raise CatalogError(f"cannot compute the report: {db.one_line(exc)}") from exc
    figures.mirror_lines_behind = sum(log.lines_behind for log in lag)
    return figures


def _window(con: duckdb.DuckDBPyConnection, since: dt.date, until: dt.date) -> str:
    """The window's views; returns the name of the root's own catalog on the connection.

    View definitions cannot take parameters: the window's ends are written in as constants.
    """
    (database,) = con.execute("SELECT current_database()").fetchone()
    local = db.CATALOG_ALIAS if database == "lake" else database
    con.execute(
        render(
            load("report/window"),
            db=quote_ident(database),
            corpus_db=quote_ident(local),
            since=quote_literal(since.isoformat()),
            until=quote_literal(until.isoformat()),
        )
    )
    return local


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """A small aggregated result as rows of JSON-ready values (dates as ISO strings)."""
    rows = con.execute(sql).to_arrow_table().to_pylist()
    return [{key: _plain(value) for key, value in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value
