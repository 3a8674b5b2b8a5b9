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
    # One buffer, read into again and again: the line not yet ended at its start, then the next read. (A new
    # bytes object a block, and the unended line joined to it, were two copies of every byte: 0.66 of the 2.2
    # CPU-s that reading a million spans took.) The lines are split out of it into Arrow arrays of their own.
    remaining = read_plan.size - offset
    buffer = bytearray(min(BLOCK_BYTES, max(remaining, 0)))  # a few appended lines need no 12 MiB
    carry = 0  # bytes of a line not yet ended, at the buffer's start
    with open(read_plan.path, "rb") as handle:
        handle.seek(offset)
        while remaining > 0:
            # a block of BLOCK_BYTES with the unended line; a long line is read on in whole blocks
            wanted = min(BLOCK_BYTES - carry if carry < BLOCK_BYTES // 2 else BLOCK_BYTES, remaining)
            if carry + wanted > len(buffer):  # a line longer than a block: room for it and the next read
                buffer = _resized(buffer, carry, max(carry + wanted, 2 * len(buffer)))
            elif len(buffer) > BLOCK_BYTES >= carry + wanted:  # that line is done: its room is given back
                buffer = _resized(buffer, carry, BLOCK_BYTES)
            with memoryview(buffer) as view:
                got = handle.readinto(view[carry : carry + wanted])
            if not got:
                break
            remaining -= got
            end = carry + got
            cut = buffer.rfind(b"\n", 0, end) + 1
            if cut:
                lines_before = result.lines
                with memoryview(buffer) as view:
                    table = _lines_table(view[:cut], offset, line_no, max_line_bytes, result)
                    view[: end - cut] = view[cut:end]
                offset += cut
                line_no += result.lines - lines_before
                if table.num_rows:
                    yield table
            carry = end - cut
        result.pending_bytes = carry
    result.end = FileState(offset, line_no, *fingerprints(read_plan.path, offset))


def _resized(buffer: bytearray, kept: int, size: int) -> bytearray:
    """A buffer of ``size`` bytes that starts with the first ``kept`` bytes of ``buffer``."""
    resized = bytearray(size)
    resized[:kept] = memoryview(buffer)[:kept]
    return resized


def _lines_table(
    block: bytes | memoryview, offset: int, first_line: int, max_line_bytes: int, result: ReadResult
) -> pa.Table:
    # a byte-order mark opens the file, not the first line's JSON: the line is read without it, from offset 0
    bom = len(BOM) if offset == 0 and block[: len(BOM)] == BOM else 0
    raw = _split_lines(block, bom)
    lengths = pc.binary_length(raw)
    steps = pc.add(lengths, 1)
    starts = pc.add(pc.subtract(pc.cumulative_sum(steps), steps), offset + bom).cast(pa.int64())
    if bom:
        starts = pa.concat_arrays([pa.array([offset], pa.int64()), starts.slice(1)])
    line_nos = pa.array(range(first_line + 1, first_line + 1 + len(raw)), pa.int64())
    table = pa.table({"line_no": line_nos, "byte_offset": starts, "raw": raw})
    result.lines += len(raw)

    too_long = pc.greater(lengths, max_line_bytes)
    # a line over the limit is quarantined whatever it holds (one of white space was once counted blank too)
    blank = pc.and_(pc.match_substring_regex(raw, "^[ \\t\\r]*$"), pc.invert(too_long))
    result.blank += pc.sum(blank).as_py() or 0
    keep = pc.and_(pc.invert(blank), pc.invert(too_long))
    for index in pc.indices_nonzero(too_long).to_pylist():
        size = lengths[index].as_py()
        result.rejected.append(
            Rejected(
                line_nos[index].as_py(),
                starts[index].as_py(),
                f"line too long: {size} bytes (limit {max_line_bytes})",
                raw[index].as_py(),
            )
        )
    if not pc.all(keep).as_py():  # a filter copies every line, also when it keeps them all
        table = table.filter(keep)
    try:
        return table.set_column(2, "raw", table.column("raw").cast(pa.string()))
    except pa.ArrowInvalid:
        return _drop_invalid_utf8(table, result)


def _split_lines(block: bytes | memoryview, start: int = 0) -> pa.BinaryArray:
    """The newline-ended lines of ``block`` from byte ``start``, without their newlines, as one Arrow array.

    Split by Arrow, not by ``bytes.split``: a Python object a line, then converted, cost twice as much
    (0.37 against 0.20 CPU-s for a million lines)."""
    whole = pa.Array.from_buffers(
        pa.large_binary(),
        1,
        [None, pa.array([start, len(block)], pa.int64()).buffers()[1], pa.py_buffer(block)],
    )
    lines = pc.split_pattern(whole, pattern=b"\n").flatten()
    return lines.slice(0, len(lines) - 1).cast(pa.binary())  # after the last newline: nothing


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
