"""Durable appends of flattened spans and log records to their streams, with group commit.

The receiver's threads hand over a request's lines and wait: whatever was handed over while one
append was running is written together by the next, in one locked ``write`` and one ``fsync``, and
each caller returns only once its lines are on disk (then, and only then, the request is answered).

Every append first repairs the stream's end: a writer killed in the middle of a write leaves a last
line without its newline, which was never acknowledged; it is cut off (under the same lock), so the
next line does not fuse with it. Several processes (receivers, ``otlp import``) may append at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from lakehouse.core.coalesce import Coalescer
from lakehouse.core.files import append_bytes
from lakehouse.core.paths import Layout

SPANS_STREAM = "otel_spans"
LOGS_STREAM = "otel_logs"


def line_of(record: dict[str, Any]) -> bytes:
    """One JSONL line: compact JSON, UTF-8, with its newline.

    orjson, not the standard library: serialising was 30 % of the receiver's CPU a request (6.3 of
    21 ms for 512 spans with json.dumps, 0.5 ms with orjson; BENCHMARKS.md, "OTLP receiver").
    """
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def append(path: Path, payload: bytes) -> None:
    """Append whole lines to ``path`` in one locked write, fsync'd, after cutting off a torn last line."""
    append_bytes(path, payload, cut_torn_tail=True)


class Store:
    """The two streams a receiver writes, each with its own group commit."""

    def __init__(self, layout: Layout) -> None:
        self.spans_path = layout.stream(SPANS_STREAM)
        self.logs_path = layout.stream(LOGS_STREAM)
        self._spans: Coalescer[bytes, None] = Coalescer(
            lambda parts: append(self.spans_path, b"".join(parts))
        )
        self._logs: Coalescer[bytes, None] = Coalescer(lambda parts: append(self.logs_path, b"".join(parts)))

    def append(self, signal: str, records: Iterable[dict[str, Any]]) -> None:
        """Write ``records`` of a ``traces`` or ``logs`` request durably; returns once they are on disk."""
        payload = b"".join(line_of(r) for r in records)
        if payload:
            (self._spans if signal == "traces" else self._logs).submit(payload)
