"""Blocks of a transform's new lines, mapped to evidence rows in the run's scratch DuckDB.

A block is at most a read block of its stream (``streams.BLOCK_BYTES``) and :data:`BLOCK_ROWS` lines:
staged (each line parsed once, fields and the event time read once, a reason for each line that is
quarantined), then mapped by the transform's SELECT into evidence rows, fetched as Arrow. Blocks are
mapped on cursors of their own, :data:`MAPPED_AT_ONCE` at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.core import db
from lakehouse.core.errors import TransformError
from lakehouse.core.sqlfiles import quote_ident
from lakehouse.ingest.transforms import MAPPED_COLUMNS, Transform

MAPPED_AT_ONCE = 2  # blocks in flight on cursors of their own (a DuckDB thread each: the two cores)
QUEUED = 1  # blocks waiting for a mapping thread, so that none idles while the block before is taken
# lines mapped at once at most: what a block holds in memory (evidence rows, sorted, written) grows with its
# rows, and a read block of 100-byte lines is 125,000 rows
BLOCK_ROWS = 65_536


@dataclass
class Block:
    """A block of new lines of one transform's stream (``LINES_SCHEMA``), or with ``lines`` None the end
    of the stream's read; ``finish`` then accounts for the read, on the run's thread."""

    order: int
    rel: str
    lines: pa.Table | None = None
    progress: tuple[str, int, int] | None = None  # (stream, bytes done, bytes total) once mapped
    finish: Callable[[], None] | None = None


def pieces(lines: pa.Table) -> list[pa.Table]:
    """Lines cut into blocks of at most :data:`BLOCK_ROWS` (slices, not copies)."""
    return [lines.slice(start, BLOCK_ROWS) for start in range(0, lines.num_rows, BLOCK_ROWS)]


def map_block(
    cursor: duckdb.DuckDBPyConnection, t: Transform, block: Block, produced: set[str]
) -> tuple[int, pa.Table]:
    """Map a block of lines through its transform ``t`` on a cursor of its own; return how many lines it
    quarantined (into ``new_quarantine``) and its evidence rows (in no order; with ``jsonl_head`` and
    ``line_no``)."""
    assert block.lines is not None
    cursor.register("lines", block.lines)
    try:
        return _map_lines(cursor, t, "lines", block.rel, produced)
    finally:
        cursor.unregister("lines")


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A second connection to the run's scratch database, with the same settings."""
    cursor = con.cursor()
    db.configure(cursor)
    return cursor


def _map_lines(
    con: duckdb.DuckDBPyConnection,
    t: Transform,
    lines_table: str,
    rel: str,
    produced: set[str],
) -> tuple[int, pa.Table]:
    """Stage and map a block of one transform's lines (see map_block)."""
    staged = "staged"
    try:
        con.execute(t.stage_sql(lines_table, staged))
        con.execute(t.quarantine_sql(staged, rel))
        # Fetched from a relation: its Arrow result skips DuckDB's own copy of the rows that execute() makes first
        # (the evidence query with its fetch took 10-25 % less CPU on the mapping threads), in no order, which
        # the writer does not need. No parameters: with one bound, a relation took 4.8x as long (the writer adds
        # the receipt id).
        rows = con.sql(t.evidence_sql(staged, rel, produced)).to_arrow_table()
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
        raise TransformError(f"transform {t.name} ({t.path}): {db.one_line(exc)}") from exc
    quarantined = con.execute(
        f"SELECT count(*) FROM {quote_ident(staged)} WHERE problem IS NOT NULL"
    ).fetchone()
    rows, unmapped = _without_mapping_problems(con, t, rows, staged, rel)
    con.execute(f"DROP TABLE {quote_ident(staged)}")
    return int(quarantined[0]) + unmapped, rows


def _without_mapping_problems(
    con: duckdb.DuckDBPyConnection, t: Transform, rows: pa.Table, staged: str, rel: str
) -> tuple[pa.Table, int]:
    """The rows of lines whose mapped values all have a reading; the other lines quarantined, counted."""
    problem = rows.column("problem")
    if problem.null_count == rows.num_rows:
        return rows.drop_columns(["problem"]), 0
    bad = rows.filter(pc.is_valid(problem)).select(["line_no", "problem"])
    con.register("mapping_problems", bad)
    try:
        con.execute(t.quarantine_sql(staged, rel, "materialize/quarantine_mapped"))
    finally:
        con.unregister("mapping_problems")
    bad_lines = pc.unique(bad.column("line_no"))
    kept = rows.filter(pc.invert(pc.is_in(rows.column("line_no"), value_set=bad_lines)))
    return kept.drop_columns(["problem"]), len(bad_lines)


def output_columns(con: duckdb.DuckDBPyConnection, t: Transform) -> set[str]:
    """The columns a transform's SELECT returns, checked against what evidence can hold."""
    try:
        columns = [d[0] for d in con.execute(t.probe_sql()).description]
    except duckdb.Error as exc:
        raise TransformError(f"transform {t.name} ({t.path}): {db.one_line(exc)}") from exc
    if "line_no" not in columns:
        raise TransformError(f"transform {t.name} ({t.path}): its SELECT must return line_no")
    unknown = set(columns) - set(MAPPED_COLUMNS) - {"line_no"}
    if unknown:
        raise TransformError(
            f"transform {t.name} ({t.path}): unknown output columns {sorted(unknown)}; "
            f"allowed: line_no, {', '.join(MAPPED_COLUMNS)}"
        )
    return set(columns)
