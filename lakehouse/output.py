"""Result sets for people (aligned tables) and machines (csv, json, jsonl)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

FORMATS = ("table", "csv", "json", "jsonl")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, list | dict):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(_plain(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """An aligned text table; numbers right-aligned, long cells cut with an ellipsis."""
    cells = [[_cell(v) for v in row] for row in rows]
    cells = [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in cells]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    numeric = [
        bool(rows) and all(_is_number(row[i]) or row[i] is None for row in rows) for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """The result in one of :data:`FORMATS`."""
    if fmt == "table":
        return table(columns, rows)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(v) for v in row] for row in rows])
        return buffer.getvalue().rstrip("\n")
    records = [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2)
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records)


def from_arrow(table: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a pyarrow table."""
    columns = list(table.column_names)
    return columns, [tuple(row[c] for c in columns) for row in table.to_pylist()]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def stats_screen(report: Any) -> str:
    """``lakehouse stats`` for people."""
    total = sum(report.evidence_by_kind.values())
    lines = [f"root              {report.root}", f"evidence          {total:,} records"]
    lines += [f"  {kind:16}{count:>12,}" for kind, count in report.evidence_by_kind.items()]
    last = report.last_materialize
    if last:
        totals = json.loads(last["totals"]) if isinstance(last["totals"], str) else (last["totals"] or {})
        detail = ", ".join(f"{k} {v:,}" for k, v in totals.items() if isinstance(v, int))
        lines.append(f"last materialize  {_plain(last['finished_at'])} ({detail})")
    else:
        lines.append("last materialize  never")
    lines.append(
        f"replay runs       {report.runs:,} (pass {_percent(report.pass_rate)}, "
        f"escalated {_percent(report.escalation_rate)})"
    )
    lines.append(f"quarantine        {report.quarantined:,} lines")
    lines.append(f"corpus            {report.corpus_documents:,} documents")
    behind = [lag for lag in report.mirror_lag if lag.lines_behind]
    if behind or report.behind_flag:
        detail = ", ".join(f"{lag.log} {lag.lines_behind:,} lines" for lag in behind) or "marked behind"
        lines.append(f"mirror            BEHIND: {detail} (run 'lakehouse sync')")
    else:
        lines.append("mirror            up to date")
    return "\n".join(lines)
