"""The evidence files of one materialize run, written on a thread of their own.

Each block of a transform's new evidence arrives as one Arrow table (with ``jsonl_head``, each JSONL
line up to its metadata, and ``line_no``, in any order; the run's receipt id is added here); it is sorted
by day and line, each day's rows are taken out of it, their lines completed, and appended to that day's
:class:`~lakehouse.ingest.evidence.DayWriter`, which stays open for the whole run. Blocks come in
transform order, so every day's files end up in (transform, line) order.

The writes run one step behind DuckDB: while a block is written (pyarrow and the file writes release
the GIL) the next one is computed. The rows waiting for a row group across all days are bounded by
:data:`PENDING_BYTES` (checked after each block, so it is passed by a block's rows at most; a day alone
becomes a row group at ``evidence.ROW_GROUP_BYTES``), and hold no block alive (they are copies). On a
failure every writer is discarded (its temporaries removed).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.core.paths import Layout
from lakehouse.ingest import evidence

# Parquet rows buffered across all days before they become row groups. Every page of a row group is compressed
# with a zstd context made for it, so fewer, larger groups pay: at 1M lines over 60 days, 64 MiB made 583 row
# groups and 160 MiB 308; 320 MiB made 184, with no further gain and a peak near 1 GB (bench/NOTES.md,
# "Materialize, eleventh part").
PENDING_BYTES = 160 * 1024 * 1024
RECEIPT_ID = evidence.EVIDENCE_SCHEMA.field("receipt_id")  # the run's, on every row (not from DuckDB)
CLOSING_THREADS = 8  # days closed (flushed and fsync'd) at once: the fsyncs overlap instead of queueing


class Writes:
    """The day writers of a run, fed block by block; ``finish`` closes them and returns the partitions."""

    def __init__(self, layout: Layout, receipt_id: str) -> None:
        self._layout = layout
        self._receipt_id = receipt_id
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lh-evidence")
        self._last: Future[Any] | None = None
        self._writers: dict[str, evidence.DayWriter] = {}
        self._line_tail = f',"receipt_id":{json.dumps(receipt_id)}}}\n'

    def add(self, table: pa.Table) -> None:
        """Hand over one block; it is sorted and written while the caller computes the next."""
        if table.num_rows:
            self._step(self._write_block, table)

    def finish(self) -> list[evidence.Partition]:
        """Every day's files complete and on disk, in day order."""
        self._wait()
        writers = [self._writers[day] for day in sorted(self._writers)]
        with ThreadPoolExecutor(max_workers=CLOSING_THREADS, thread_name_prefix="lh-close") as pool:
            partitions = list(pool.map(lambda w: w.close(), writers))
        self._writers.clear()
        return partitions

    def _write_block(self, table: pa.Table) -> None:
        table = table.cast(_block_schema(table.schema))
        # sorted here, off the run's thread: in DuckDB the sort of these wide rows cost more than the query
        order = pc.sort_indices(table, [("day", "ascending"), ("line_no", "ascending")])
        for day, indices in days_of(order, table.column("day").take(order)):
            # a day's rows taken apart (not a slice of the sorted block): rows left waiting for their row
            # group must not keep the whole block alive while the budget counts only theirs
            piece = table.take(indices)
            lines = pc.binary_join_element_wise(
                piece.column("jsonl_head"), piece.column("metadata"), self._line_tail, ""
            )
            writer = self._writers.get(day)
            if writer is None:
                writer = self._writers[day] = evidence.DayWriter(self._layout, self._receipt_id, day)
            rows = piece.drop_columns(["jsonl_head", "line_no"])
            rows = rows.append_column(RECEIPT_ID, pa.repeat(self._receipt_id, rows.num_rows))
            writer.add(rows.append_column("jsonl_line", lines))
        self._flush_over_budget()

    def _flush_over_budget(self) -> None:
        """Over :data:`PENDING_BYTES`, the days with the most rows waiting become row groups, until half the
        budget is left: flushing every day at once cut each day into many small row groups (840 of ~1,200
        rows for a million lines over 60 days), each column's pages compressed with a zstd context of
        their own."""
        pending = sum(w.pending_bytes for w in self._writers.values())
        if pending <= PENDING_BYTES:
            return
        for writer in sorted(self._writers.values(), key=lambda w: w.pending_bytes, reverse=True):
            if pending <= PENDING_BYTES // 2:
                break
            pending -= writer.pending_bytes
            writer.flush()

    def _step(self, fn: Callable[..., Any], *args: Any) -> None:
        self._wait()
        self._last = self._pool.submit(fn, *args)

    def _wait(self) -> None:
        if self._last is not None:
            last, self._last = self._last, None
            last.result()  # a failed step raises here, in the run's thread

    def __enter__(self) -> Writes:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if self._last is not None:  # a failure elsewhere: the step in flight ends first
                with contextlib.suppress(BaseException):
                    self._last.result()
        finally:
            self._pool.shutdown(wait=True)
            for writer in self._writers.values():  # not finished: nothing of this run may stay
                writer.discard()


def _block_schema(schema: pa.Schema) -> pa.Schema:
    """A block's schema with the evidence columns' types as Parquet stores them (DuckDB names a list's
    element ``l``, Arrow ``item``)."""
    return pa.schema([_EVIDENCE_FIELDS.get(f.name, f) for f in schema])


_EVIDENCE_FIELDS = {f.name: f for f in evidence.EVIDENCE_SCHEMA}


def days_of(order: pa.Array, days: pa.ChunkedArray) -> Iterator[tuple[str, pa.Array]]:
    """(day, the indices of its rows) for each run of equal ``days``, the day of each row in ``order``."""
    runs = pc.run_end_encode(days.combine_chunks())
    start = 0
    for day, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        yield day, order.slice(start, end - start)
        start = end
