"""Result sets for people (an aligned table) and machines (csv, json, jsonl, parquet), streamed.

Values are converted by :class:`lakehouse.results.Renderer` (DuckDB's casts); this module only
lays the converted batches out. Machine formats stream batch by batch, so a large result never
sits in memory as Python objects; the table shows the first ``limit`` rows and counts the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.catalog.results import Renderer, Result, unique_names
from lakehouse.core import db

FORMATS = ("table", "csv", "json", "jsonl", "parquet")
TABLE_LIMIT = 100  # rows a terminal table shows unless --limit says otherwise
MAX_CELL = 60


@dataclass
class Written:
    """How many rows a result had and how many of them were written."""

    rows: int
    written: int

    @property
    def left_out(self) -> int:
        return self.rows - self.written


class _Limited:
    """The first ``limit`` rows of a stream of batches (all of them for None), counting every row."""

    def __init__(self, batches: pa.RecordBatchReader, limit: int | None) -> None:
        self.batches, self.limit = batches, limit
        self.rows = self.written = 0
        # Arrow allows a name twice (SELECT 1 AS a, 2 AS a); a JSON object, Parquet and DuckDB's scan do not.
        self.names = unique_names(batches.schema.names)
        self.schema = pa.schema([f.with_name(n) for f, n in zip(batches.schema, self.names, strict=True)])

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for batch in self.batches:
            self.rows += batch.num_rows
            room = batch.num_rows if self.limit is None else max(self.limit - self.written, 0)
            if room:
                kept = batch if room >= batch.num_rows else batch.slice(0, room)
                self.written += kept.num_rows
                yield pa.RecordBatch.from_arrays(kept.columns, schema=self.schema)

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, iter(self))

    def drain(self) -> None:
        """Count what is left without converting it."""
        for _ in self:
            pass


def write(result: Result, fmt: str, sink: BinaryIO, *, limit: int | None = None) -> Written:
    """Write ``result`` to ``sink`` in ``fmt`` (one of :data:`FORMATS`).

    ``limit`` caps the rows written: None is :data:`TABLE_LIMIT` for a table and every row otherwise,
    0 every row.
    """
    if limit is None:
        limit = TABLE_LIMIT if fmt == "table" else 0
    if not result.columns:  # the last statement returns no result set (SET, BEGIN, ...)
        _write_nothing(fmt, sink)
        return Written(0, 0)
    rows = _Limited(result.batches, limit or None)
    try:
        with Renderer() as renderer:
            _write(renderer, result, rows, fmt, sink)
        rows.drain()
    except (duckdb.Error, pa.ArrowException) as exc:
        # DuckDB streams: a statement's own runtime error (a failed cast, say) surfaces here too.
        raise db.query_error(exc) from exc
    return Written(rows.rows, rows.written)


def _write_nothing(fmt: str, sink: BinaryIO) -> None:
    """No result set: valid and empty in each format (a table and csv print nothing, as DuckDB's shell)."""
    if fmt == "json":
        sink.write(b"[]\n")
    elif fmt == "parquet":
        pq.write_table(pa.table({}), sink)


def _write(renderer: Renderer, result: Result, rows: _Limited, fmt: str, sink: BinaryIO) -> None:
    if fmt == "table":
        shown = pa.Table.from_batches(list(rows), schema=rows.schema)
        rows.drain()
        lines = [
            row
            for batch in renderer.text(shown, display=True)
            for row in zip(*(column.to_pylist() for column in batch.columns), strict=True)
        ]
        sink.write((table_text(result.columns, lines, result.numeric, total=rows.rows) + "\n").encode())
    elif fmt == "csv":
        _write_csv(renderer.text(rows.reader()), result.columns, sink)
    elif fmt in ("json", "jsonl"):
        _write_json(renderer.json_lines(rows.reader()), sink, as_array=fmt == "json")
    elif fmt == "parquet":
        _write_parquet(renderer.parquet_ready(rows.reader()), rows.names, sink)
    else:
        raise ValueError(f"unknown format {fmt!r}")


_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^$|^\s|\s$')


def _csv_field(value: str | None) -> str:
    """RFC 4180 quoting where needed; NULL is an empty field, an empty string is "" (DuckDB's COPY does the same)."""
    if value is None:
        return ""
    if _NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _write_csv(batches: pa.RecordBatchReader, columns: list[str], sink: BinaryIO) -> None:
    """A header, then one line per row ending in \n; a line break inside a value is quoted, \r too."""
    sink.write((",".join(_csv_field(c) for c in columns) + "\n").encode())
    for batch in batches:
        lines = zip(*(column.to_pylist() for column in batch.columns), strict=True)
        sink.write("".join(",".join(map(_csv_field, line)) + "\n" for line in lines).encode())


def _write_json(lines: pa.RecordBatchReader, sink: BinaryIO, *, as_array: bool) -> None:
    first = True
    if as_array:
        sink.write(b"[")
    for batch in lines:
        for line in batch.column(0).to_pylist():
            if as_array:
                sink.write(b"\n" if first else b",\n")
            sink.write(line.encode())
            if not as_array:
                sink.write(b"\n")
            first = False
    if as_array:
        sink.write(b"]\n" if first else b"\n]\n")


def _write_parquet(batches: pa.RecordBatchReader, columns: list[str], sink: BinaryIO) -> None:
    schema = pa.schema([field.with_name(name) for field, name in zip(batches.schema, columns, strict=True)])
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=schema))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table_text(
    columns: Sequence[str],
    rows: Sequence[Sequence[str | None]],
    numeric: Sequence[bool],
    *,
    total: int | None = None,
) -> str:
    """An aligned text table of text cells; numeric columns right-aligned, long cells cut with an ellipsis."""
    cells = [[_cut("" if v is None else v.replace("\n", " ")) for v in row] for row in rows]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    total = len(rows) if total is None else total
    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out.extend(line(r) for r in cells)
    if total > len(rows):
        out.append(f"(first {len(rows):,} of {total:,} rows; --limit N shows more)")
    else:
        out.append(f"({total:,} row{'s' if total != 1 else ''})")
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned table of plain Python values (the demo's summary, corpus search)."""
    numeric = [
        bool(rows) and all(_is_number(r[i]) or r[i] is None for r in rows) for i in range(len(columns))
    ]
    return table_text(columns, [[_cell(v) for v in row] for row in rows], numeric)


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
        lines.append(f"last materialize  {last['finished_at']} ({detail})")
    else:
        lines.append("last materialize  never")
    lines.append(
        f"replay runs       {report.runs:,} (pass {_percent(report.pass_rate)}, "
        f"escalated {_percent(report.escalation_rate)})"
    )
    by_stream = ", ".join(f"{stream} {n:,}" for stream, n in report.quarantine_by_stream.items())
    lines.append(
        f"quarantine        {report.quarantined:,} open lines" + (f" ({by_stream})" if by_stream else "")
    )
    lines.append(f"corpus            {report.corpus_documents:,} documents")
    behind = [f"{lag.log} {lag.lines_behind:,} lines" for lag in report.mirror_lag if lag.lines_behind]
    if report.prices_stale:
        behind.append("prices.csv changed since it was loaded")
    if behind or report.behind_flag:
        lines.append(
            f"mirror            BEHIND: {', '.join(behind) or 'marked behind'} (run 'lakehouse sync')"
        )
    else:
        lines.append("mirror            up to date")
    return "\n".join(lines)
