"""``lakehouse otlp import``: OTLP/JSON files into the same streams the receiver writes.

Accepted: one export request a line, as the Collector's file exporter and the SDK's JSON file
exporter write them (``{"resourceSpans": [...]}`` or ``{"resourceLogs": [...]}``, hex ids, integers
as strings or numbers), or one request pretty-printed over the whole file. A line that is not an
OTLP request goes to the quarantine with its file, number, byte offset and reason (stream
``otlp_import``: fix the file and import it again); the rest is imported. Importing a file twice
adds no evidence: span ids and log record ids are the evidence keys.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakehouse.core.errors import OtlpRequestError, UsageError
from lakehouse.core.files import append_lines, dumps
from lakehouse.core.paths import Layout
from lakehouse.ingest.materialize import quarantine_entry
from lakehouse.ingest.streams import BOM
from lakehouse.otlp import decode, store

QUARANTINE_STREAM = "otlp_import"
FLUSH_BYTES = 16 * 1024 * 1024  # stored as it goes: a large file is not held in memory whole


@dataclass
class ImportReport:
    files: int = 0
    requests: int = 0
    spans: int = 0
    logs: int = 0
    rejected: int = 0  # spans or log records a request held that could not be kept
    quarantined: int = 0
    reasons: list[str] = field(default_factory=list)


class _Batch:
    """Flattened lines waiting to be appended, per stream."""

    def __init__(self, layout: Layout) -> None:
        self.paths = {"traces": layout.stream(store.SPANS_STREAM), "logs": layout.stream(store.LOGS_STREAM)}
        self.parts: dict[str, list[bytes]] = {"traces": [], "logs": []}
        self.size = 0

    def add(self, signal: str, records: list[dict[str, Any]]) -> None:
        lines = [store.line_of(r) for r in records]
        self.parts[signal].extend(lines)
        self.size += sum(map(len, lines))
        if self.size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        for signal, lines in self.parts.items():
            store.append(self.paths[signal], b"".join(lines))
            lines.clear()
        self.size = 0


def import_files(layout: Layout, sources: list[str]) -> ImportReport:
    """Import each source (a path, or ``-`` for standard input)."""
    report = ImportReport()
    batch = _Batch(layout)
    quarantine: list[str] = []
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    receipt = f"otlp-import-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    for source in sources:
        data, name = _read(source, layout)
        report.files += 1
        for number, offset, raw in _requests(data):
            try:
                _import_one(raw, batch, report)
            except OtlpRequestError as exc:
                report.quarantined += 1
                entry = {
                    "stream": QUARANTINE_STREAM,
                    "path": name,
                    "line": number,
                    "offset": offset,
                    "kind": None,
                    "reason": str(exc),
                    "raw": raw.decode("utf-8", errors="backslashreplace"),
                }
                quarantine.append(dumps(quarantine_entry(entry, receipt, at)))
    batch.flush()
    append_lines(layout.quarantine, quarantine)
    return report


def _import_one(raw: bytes, batch: _Batch, report: ImportReport) -> None:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OtlpRequestError(400, f"invalid JSON ({' '.join(str(exc).split())[:200]})") from exc
    signal = decode.signal_of(document)
    if signal is None:
        raise OtlpRequestError(400, "not an OTLP request (no resourceSpans or resourceLogs)")
    result = decode.flattened(signal, decode.from_json(signal, document))
    batch.add(signal, result.records)
    report.requests += 1
    report.rejected += result.rejected
    if signal == "traces":
        report.spans += len(result.records)
    else:
        report.logs += len(result.records)
    report.reasons.extend(r for r in result.reasons if r not in report.reasons)


def _read(source: str, layout: Layout) -> tuple[bytes, str]:
    """A source's bytes and the name the quarantine records it under (relative to the root when inside)."""
    if source == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    path = Path(source).expanduser().absolute()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from exc
    try:
        return data, path.relative_to(layout.root).as_posix()
    except ValueError:
        return data, str(path)


def _requests(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(line number, byte offset, text)`` of each request: the whole file when it is one JSON document
    spread over lines (pretty-printed), else each non-blank line."""
    body = data[len(BOM) :] if data.startswith(BOM) else data
    start = len(data) - len(body)
    if body.count(b"\n") > 1 and body.lstrip()[:1] == b"{":
        try:
            json.loads(body)
            return [(1, start, body.strip())]
        except ValueError:
            pass
    out = []
    offset = start
    for number, line in enumerate(body.split(b"\n"), start=1):
        if line.strip():
            out.append((number, offset, line.rstrip(b"\r")))
        offset += len(line) + 1
    return out
