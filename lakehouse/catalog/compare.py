"""Did the change make anything worse? Two labels' runs paired by task, with the statistics to judge.

The pairing and the statistics are SQL in the catalog (``sql/schema/compare.sql``: the table macros
``compare_runs`` and ``compare_summary``), so an analyst's DuckDB shell and ``lakehouse compare``
give the same answer; this module checks the labels and assembles the report.
"""

from __future__ import annotations

from typing import Any

import duckdb

from lakehouse.catalog import mirror, prices
from lakehouse.core import db
from lakehouse.core.errors import CatalogError, UsageError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, render

SUMMARY_KEYS = (
    "pairs",
    "regressions",
    "fixes",
    "unchanged_pass",
    "unchanged_fail",
    "base_pass_rate",
    "candidate_pass_rate",
    "delta",
    "ci95",
    "priced_pairs",
    "base_cost_usd",
    "candidate_cost_usd",
    "cost_delta_usd",
    "cost_delta_ci95",
    "mcnemar_p",
)


def compare(layout: Layout, base: str, candidate: str) -> tuple[dict[str, Any], str | None]:
    """The comparison of ``candidate``'s runs against ``base``'s (README, "Compare"), and a warning when
    the catalog it read may miss something (runs not mirrored yet, prices changed since their load); a
    usage error when a label has no runs or the two share no task."""
    warning = mirror.require_for_reading(layout, "compare")
    try:
        with db.catalog(layout.catalog, read_only=True) as con:
            warning = prices.with_stale_warning(con, layout, warning)
            report = _report(con, base, candidate) if _has_macros(con) else None
        if report is None:
            # A catalog written by an older version lacks the macros: temporary ones, as on the lake (the
            # next writing command's sync stores them for analysts).
            with db.catalog(layout.catalog, read_only=True) as con:
                report = compare_on(con, base, candidate)
    except (duckdb.BinderException, duckdb.CatalogException) as exc:  # a column or table it lacks
        raise CatalogError(
            f"cannot compare: {db.one_line(exc)} (a catalog written by an older version: "
            "'lakehouse sync' brings it up to date)"
        ) from exc
    except duckdb.Error as exc:  # the data or the file: the hint above would mislead
        raise CatalogError(f"cannot compare: {db.one_line(exc)}") from exc
    return report, warning


def compare_on(con: duckdb.DuckDBPyConnection, base: str, candidate: str) -> dict[str, Any]:
    """The comparison on a connection whose default database holds replay_runs (the lake's, with
    ``compare --lake``): the macros are created there as temporary ones."""
    try:
        db.run_sql(con, render(load("schema/compare"), scope="TEMP "))
        return _report(con, base, candidate)
    except duckdb.Error as exc:
        raise CatalogError(f"cannot compare: {db.one_line(exc)}") from exc


def _has_macros(con: duckdb.DuckDBPyConnection) -> bool:
    (count,) = con.execute(load("compare/has_macros")).fetchone()
    return count == 2


def _report(con: duckdb.DuckDBPyConnection, base: str, candidate: str) -> dict[str, Any]:
    sides = {
        label: (runs, tasks, versions, gates)
        for label, runs, tasks, versions, gates in con.execute(
            load("compare/sides"), [base, candidate]
        ).fetchall()
    }
    for label in (base, candidate):
        if label not in sides:
            known = [row[0] for row in con.execute(load("compare/labels")).fetchall()]
            raise UsageError(f"no runs labelled {label!r} (labels: {', '.join(known) or 'none yet'})")
    summary = dict(
        zip(
            SUMMARY_KEYS,
            con.execute("SELECT * FROM compare_summary(?, ?)", [base, candidate]).fetchone(),
            strict=True,
        )
    )
    if not summary["pairs"]:
        raise UsageError(f"labels {base!r} and {candidate!r} have no task in common")
    # Arrow's conversion to Python objects is faster than fetchall() at 100k pairs (0.33 vs 0.5 s).
    tasks = con.execute(load("compare/tasks"), [base, candidate]).to_arrow_table().to_pylist()
    return {
        "base": base,
        "candidate": candidate,
        **summary,
        "unpaired": {
            "base": sides[base][1] - summary["pairs"],
            "candidate": sides[candidate][1] - summary["pairs"],
        },
        "repeats": {
            "base": sides[base][0] - sides[base][1],
            "candidate": sides[candidate][0] - sides[candidate][1],
        },
        "corpus_versions": {"base": sides[base][2], "candidate": sides[candidate][2]},
        "gates_versions": {"base": sides[base][3], "candidate": sides[candidate][3]},
        "tasks": tasks,
    }
