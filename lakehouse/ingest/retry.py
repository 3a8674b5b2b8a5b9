"""``lakehouse quarantine retry``: open quarantined lines through the current transforms again.

A retry is a materialize run whose lines come from ``quarantine.jsonl`` instead of the streams:
the same lock, journal, receipt (``"retry": true``) and crash safety. A line that now passes
becomes evidence exactly as if it had been read from its stream (same ``evidence_id``, its
original line number); one that still fails stays open. Nothing is deleted from the quarantine:
the retry appends a ``quarantine_resolution.v1`` line for each line it resolved, and a new
``quarantine.v1`` entry (same ``quarantine_id``) for each line whose reason changed; a line
whose reason did not change appends nothing, so a second retry changes nothing.

Lines rejected before JSON parsing stay open as they are: bytes that are not UTF-8 cannot pass,
and a line over ``--max-line-bytes`` is retried only under a larger limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cached_property
from typing import Any

import pyarrow as pa

from lakehouse.core.files import dumps, read_jsonl
from lakehouse.core.paths import Layout
from lakehouse.ingest import blocks, evidence, streams
from lakehouse.ingest.blocks import Block
from lakehouse.ingest.materialize import (
    Options,
    Outcome,
    Progress,
    _Run,
    committed,
    quarantine_entry,
)
from lakehouse.ingest.transforms import Transform, line_limit

QUARANTINE_SCHEMA = "quarantine.v1"
RESOLUTION_SCHEMA = "quarantine_resolution.v1"


def open_entries(layout: Layout) -> list[dict[str, Any]]:
    """The open quarantined lines: each id's latest entry, unless a resolution followed it."""
    latest: dict[str, dict[str, Any]] = {}
    if not layout.quarantine.exists():
        return []
    for record in read_jsonl(layout.quarantine):
        if record.get("schema") == RESOLUTION_SCHEMA:
            latest.pop(record["quarantine_id"], None)
        elif record.get("schema") == QUARANTINE_SCHEMA:
            latest[record["quarantine_id"]] = record
    return sorted(latest.values(), key=lambda q: (q["path"], q["line"]))


def retryable(entry: dict[str, Any], max_line_bytes: int) -> bool:
    return "raw_base64" not in entry and len(entry["raw"].encode("utf-8")) <= max_line_bytes


def run(
    layout: Layout,
    options: Options | None = None,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
    after_commit: Callable[[], str | None] | None = None,
) -> Outcome:
    """Retry every open quarantined line; ``after_commit`` as for :func:`materialize.run`."""
    options = options or Options()

    def new_retry(transforms: list[Transform]) -> _Retry:  # called under the lock: the open lines are current
        return _Retry(layout, transforms, options, progress, open_entries(layout))

    return committed(layout, options, on_wait, after_commit, new_retry)


class _Retry(_Run):
    """A materialize run over open quarantined lines; stream offsets are left as they are."""

    def __init__(
        self,
        layout: Layout,
        transforms: list[Transform],
        options: Options,
        progress: Progress | None,
        entries: list[dict[str, Any]],
    ) -> None:
        super().__init__(layout, transforms, options, progress)
        known = {t.stream for t in transforms}
        self.entries = [
            e
            for e in entries
            if e["stream"] in known
            and retryable(e, line_limit(transforms, e["stream"], options.max_line_bytes))
        ]
        self.not_retried = len(entries) - len(self.entries)
        self.retried = {e["quarantine_id"]: e for e in self.entries}

    def _stream_blocks(self, order: int) -> Iterator[Block]:
        """The open quarantined lines of the transform's stream, by the path they came from, in blocks of
        at most ``BLOCK_ROWS`` lines (mapped two at a time, as a stream's new lines are)."""
        stream = self.transforms[order].stream
        by_path: dict[str, list[dict[str, Any]]] = {}
        for entry in self.entries:
            if entry["stream"] == stream:
                by_path.setdefault(entry["path"], []).append(entry)
        for rel, entries in by_path.items():
            lines = pa.table(
                {
                    "line_no": pa.array([e["line"] for e in entries], pa.int64()),
                    "byte_offset": pa.array([e["offset"] for e in entries], pa.int64()),
                    "raw": pa.array([e["raw"] for e in entries], pa.string()),
                },
                schema=streams.LINES_SCHEMA,
            )
            read = {
                "stream": stream,
                "path": rel,
                "start_offset": None,
                "end_offset": None,
                "lines": len(entries),
                "blank_lines": 0,
                "pending_bytes": 0,
                "reset": None,
            }
            first = self._first_of_stream(order)
            cut = blocks.pieces(lines)
            for number, piece in enumerate(cut, 1):
                last = number == len(cut)  # its read is accounted once, with the last block
                account = (lambda read=read: self.inputs.append(read)) if first and last else None
                yield Block(order, rel, piece, finish=account)

    @cached_property
    def _still_failing(self) -> dict[tuple[str, int], dict[str, Any]]:
        """This run's quarantined lines by place (path, byte offset): a place identifies a line.
        Read at commit, once the run's quarantine is final."""
        return {(q["path"], q["offset"]): q for q in self.quarantine}

    @cached_property
    def _resolved(self) -> list[str]:
        return [qid for qid, e in self.retried.items() if (e["path"], e["offset"]) not in self._still_failing]

    def _quarantine_lines(self, at: str) -> list[str]:
        """New reasons of lines still failing (unchanged ones append nothing), then resolutions."""
        before = {(e["path"], e["offset"]): e for e in self.retried.values()}
        lines = [
            dumps(quarantine_entry(q, self.receipt_id, at))
            for place, q in self._still_failing.items()
            if place not in before or before[place]["reason"] != q["reason"]
        ]
        resolution = {"schema": RESOLUTION_SCHEMA, "resolved_receipt_id": self.receipt_id, "resolved_at": at}
        return lines + [dumps({**resolution, "quarantine_id": qid}) for qid in self._resolved]

    def _receipt(self, finished: datetime, partitions: list[evidence.Partition]) -> dict[str, Any]:
        receipt = super()._receipt(finished, partitions)
        receipt["retry"] = True
        receipt["totals"]["resolved"] = len(self._resolved)
        receipt["totals"]["not_retried"] = (
            self.not_retried
        )  # not UTF-8, too long, or no transform reads the stream
        return receipt
