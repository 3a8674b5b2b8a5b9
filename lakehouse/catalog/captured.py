"""The captured model calls (``llm_spans``) that ``lakehouse replay --of span:ID|spans:PREDICATE`` replays."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from lakehouse.catalog import mirror
from lakehouse.core import db
from lakehouse.core.errors import CatalogError, UsageError
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, render

SPAN_PREFIX, SPANS_PREFIX = "span:", "spans:"


def is_span_selector(selector: str) -> bool:
    return selector.startswith((SPAN_PREFIX, SPANS_PREFIX))


def select(layout: Layout, selectors: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The captured calls the selectors name (each once, oldest first), and the selectors that named none."""
    mirror.require_for_reading(layout, "replay from spans")
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    unknown: list[str] = []
    with db.catalog(layout.catalog, read_only=True) as con:
        for selector in selectors:
            if selector.startswith(SPANS_PREFIX):
                predicate = selector[len(SPANS_PREFIX) :].strip()
                if not predicate:
                    raise UsageError(
                        'spans:"PREDICATE" needs a condition over llm_spans, e.g. spans:"service = \'support\'"'
                    )
                rows = _query(con, f"({predicate})", [], selector)
            else:
                rows = _query(con, "span_id = ?", [selector[len(SPAN_PREFIX) :]], selector)
            if not rows:
                unknown.append(selector)
            chosen.update(((r["trace_id"], r["span_id"]), r) for r in rows)
    return list(chosen.values()), unknown


def _query(
    con: duckdb.DuckDBPyConnection, where: str, params: list[Any], selector: str
) -> list[dict[str, Any]]:
    try:
        cursor = con.execute(render(load("captured/spans"), where=where), params)
    except duckdb.Error as exc:
        if "llm_spans" in str(exc) and "does not exist" in str(exc):
            raise CatalogError("the catalog has no llm_spans view yet: run 'lakehouse sync'") from exc
        raise UsageError(f"{selector}: not a condition over llm_spans: {db.one_line(exc)}") from exc
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["input_messages"] = _json_list(row["input_messages"])
        row["output_messages"] = _json_list(row["output_messages"])
    return rows


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else []
