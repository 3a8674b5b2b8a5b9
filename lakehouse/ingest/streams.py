"""Reading what was appended to a stream since the last run, line by line with offsets.

A stream is append-only JSONL. We remember, per file, the byte offset and line count up to
which it was consumed, plus fingerprints of the bytes around that point, so that a file
that shrank or was replaced is detected and read again from the start (evidence ids make
that safe). Bytes after the last newline are a line still being written: left for the next run.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

FINGERPRINT_BYTES = 4096
BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark, as Windows tools write it
# read and mapped at once at most (two blocks are mapped at a time, one waits): 16 MiB of spans (1.4 KB a
# line) took a million-span run to 1,050 MiB of RSS, 12 MiB to ~975, with the same time for short lines
BLOCK_BYTES = 12 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 1024 * 1024

LINES_SCHEMA = pa.schema([("line_no", pa.int64()), ("byte_offset", pa.int64()), ("raw", pa.string())])


@dataclass
class FileState:
    """How far a file was consumed, and how to recognise it next time."""

    offset: int = 0
    line: int = 0
    head_sha: str = ""
    tail_sha: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "line": self.line,
            "head_sha": self.head_sha,
            "tail_sha": self.tail_sha,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileState:
        return cls(int(data["offset"]), int(data["line"]), str(data["head_sha"]), str(data["tail_sha"]))


@dataclass
class ReadPlan:
    """The byte range of a file a run will read."""

    path: Path
    start: FileState
    size: int
    reset: str | None = None  # why the previous state was discarded ("shrank", "replaced")


@dataclass
class Rejected:
    """A line rejected before JSON parsing (bytes-level problems)."""

    line_no: int
    byte_offset: int
    reason: str
    raw: bytes

    def to_quarantine(self, stream: str, path: str) -> dict[str, Any]:
        text = self.raw.decode("utf-8", errors="backslashreplace")
        entry = {
            "stream": stream,
            "path": path,
            "line": self.line_no,
            "offset": self.byte_offset,
            "kind": None,
            "reason": self.reason,
            "raw": text,
        }
        if self.reason.startswith("invalid UTF-8"):
            entry["raw_base64"] = base64.b64encode(self.raw).decode("ascii")
        return entry


@dataclass
class ReadResult:
    """What reading a plan produced, besides the line batches."""

    end: FileState = field(default_factory=FileState)
    lines: int = 0
    blank: int = 0
    pending_bytes: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprints(path: Path, offset: int) -> tuple[str, str]:
    """Hashes of the first and of the last (up to) 4 KiB before ``offset``."""
    with open(path, "rb") as handle:
        head = handle.read(min(offset, FINGERPRINT_BYTES))
        tail_start = max(0, offset - FINGERPRINT_BYTES)
        handle.seek(tail_start)
        tail = handle.read(offset - tail_start)
    return _sha(head), _sha(tail)


def plan(path: Path, previous: FileState | None) -> ReadPlan:
    """Where to start reading ``path``: after the previous run, or from 0 if the file changed under us."""
    size = path.stat().st_size
    if previous is None or previous.offset == 0:
        return ReadPlan(path, FileState(), size)
    if size < previous.offset:
        return ReadPlan(path, FileState(), size, reset="shrank")
    if fingerprints(path, previous.offset) != (previous.head_sha, previous.tail_sha):
        return ReadPlan(path, FileState(), size, reset="replaced")
    return ReadPlan(path, previous, size)


def read_new_lines(
    read_plan: ReadPlan, result: ReadResult, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[pa.Table]:
    """Yield tables of complete, valid-UTF-8 lines (``LINES_SCHEMA``) from the plan's range.

    Fills ``result`` as it goes: rejected lines, counts, and the state to save on commit.
    """
    offset, line_no = read_plan.start.offset, read_plan.start.line
    with open(read_plan.path, "rb") as handle:
        handle.seek(offset)
        remaining = read_plan.size - offset
        carry = b""
        while remaining > 0:
            chunk = handle.read(min(BLOCK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            block = carry + chunk
            cut = block.rfind(b"\n") + 1
            block, carry = block[:cut], block[cut:]
            if not block:
                continue
            table = _lines_table(block, offset, line_no, max_line_bytes, result)
            offset += len(block)
            line_no += block.count(b"\n")
            if table.num_rows:
                yield table
        result.pending_bytes = len(carry)
    result.end = FileState(offset, line_no, *fingerprints(read_plan.path, offset))


def _lines_table(
    block: bytes, offset: int, first_line: int, max_line_bytes: int, result: ReadResult
) -> pa.Table:
    parts = block.split(b"\n")
    parts.pop()  # the block ends with a newline: the last piece is empty
    steps = pc.add(pc.binary_length(pa.array(parts, pa.binary())), 1)
    offsets = pc.subtract(pc.add(pc.cumulative_sum(steps), offset), steps)
    if offset == 0 and parts and parts[0].startswith(BOM):
        parts[0] = parts[0][len(BOM) :]  # a byte-order mark opens the file, not the first line's JSON
    raw = pa.array(parts, pa.binary())
    lengths = pc.binary_length(raw)
    line_nos = pa.array(range(first_line + 1, first_line + 1 + len(parts)), pa.int64())
    table = pa.table({"line_no": line_nos, "byte_offset": offsets.cast(pa.int64()), "raw": raw})
    result.lines += len(parts)

    blank = pc.match_substring_regex(raw, "^[ \\t\\r]*$")
    too_long = pc.greater(lengths, max_line_bytes)
    result.blank += pc.sum(blank).as_py() or 0
    keep = pc.and_(pc.invert(blank), pc.invert(too_long))
    for index in pc.indices_nonzero(too_long).to_pylist():
        size = lengths[index].as_py()
        result.rejected.append(
            Rejected(
                line_nos[index].as_py(),
                offsets[index].as_py(),
                f"line too long: {size} bytes (limit {max_line_bytes})",
                parts[index],
            )
        )
    table = table.filter(keep)
    try:
        return table.set_column(2, "raw", table.column("raw").cast(pa.string()))
    except pa.ArrowInvalid:
        return _drop_invalid_utf8(table, result)


def _drop_invalid_utf8(table: pa.Table, result: ReadResult) -> pa.Table:
    good: list[bool] = []
    for line_no, byte_offset, raw in zip(*(table.column(i).to_pylist() for i in range(3)), strict=True):
        try:
            raw.decode("utf-8")
            good.append(True)
        except UnicodeDecodeError as exc:
            result.rejected.append(Rejected(line_no, byte_offset, f"invalid UTF-8 at byte {exc.start}", raw))
            good.append(False)
    kept = table.filter(pa.array(good))
    return kept.set_column(2, "raw", kept.column("raw").cast(pa.string()))
