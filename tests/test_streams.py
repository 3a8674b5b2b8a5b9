"""Reading a stream's new lines: every byte of the file accounted for, whatever the block size.

The reader splits lines out of one buffer that it reads into again and again; hypothesis writes files of
every line shape (JSON, blank, too long, not UTF-8, a byte-order mark, CRLF, no final newline) and reads them
with blocks from one byte up, then checks every line against the file's own bytes, after the whole read (a
table that still pointed into the buffer would show the buffer's later contents).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lakehouse.ingest import streams

LINES = st.lists(
    st.one_of(
        st.sampled_from([b'{"a":1}', b"", b"  \t", b'{"b":"\xc3\xa9"}\r', b"\xff\xfe not utf-8", b"[1]"]),
        st.binary(max_size=40).filter(lambda b: b"\n" not in b),
        st.text(max_size=30).map(lambda s: s.replace("\n", " ").encode()),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(
    lines=[b" " * 20, b"{}"], bom=False, ended=True, block_bytes=4096, limit=8, resume_after=0
)  # blank, and too long
@given(
    lines=LINES,
    bom=st.booleans(),
    ended=st.booleans(),
    block_bytes=st.sampled_from([1, 2, 5, 16, 64, 4096]),
    limit=st.sampled_from([8, 30, 1000]),
    resume_after=st.integers(min_value=0, max_value=30),
)
def test_every_line_is_read_rejected_or_blank_once_at_its_offset(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[bytes],
    bom: bool,
    ended: bool,
    block_bytes: int,
    limit: int,
    resume_after: int,
) -> None:
    data = (streams.BOM if bom else b"") + b"\n".join(lines) + (b"\n" if ended and lines else b"")
    path = tmp_path / "s.jsonl"
    monkeypatch.setattr(streams, "BLOCK_BYTES", block_bytes)

    # read in two runs: the file up to a line's end first, then what was appended after it
    first_part = data[: _after_line(data, resume_after)]
    path.write_bytes(first_part)
    first = streams.ReadResult()
    tables = list(streams.read_new_lines(streams.plan(path, None), first, max_line_bytes=limit))
    path.write_bytes(data)
    result = streams.ReadResult()
    plan = streams.plan(path, first.end)
    assert plan.start.offset == len(first_part) and not plan.reset
    tables += streams.read_new_lines(plan, result, max_line_bytes=limit)
    result.lines += first.lines
    result.blank += first.blank
    result.rejected = first.rejected + result.rejected

    rows = [row for table in tables for row in table.to_pylist()]
    read = {row["line_no"]: row for row in rows}
    rejected = {r.line_no: r for r in result.rejected}
    assert len(read) == len(rows) and len(rejected) == len(result.rejected), "a line came out twice"

    complete = data[: data.rfind(b"\n") + 1]
    ends = [i for i, byte in enumerate(complete) if byte == ord("\n")]
    starts = [0, *(end + 1 for end in ends)][: len(ends)]
    assert result.lines == len(ends) and result.end.line == len(ends) and result.end.offset == len(complete)
    assert result.pending_bytes == len(data) - len(complete)
    blank = 0
    for number, (start, end) in enumerate(zip(starts, ends, strict=True), start=1):
        raw = data[start:end]
        if start == 0 and raw.startswith(streams.BOM):
            raw = raw[len(streams.BOM) :]  # the mark opens the file; the line is read without it
        where = read.get(number) or rejected.get(number)
        if raw.strip(b" \t\r") == b"" and len(raw) <= limit:  # longer: quarantined as too long
            blank += 1
            assert where is None, f"blank line {number} was not skipped"
            continue
        assert where is not None, f"line {number} is missing"
        if number in read:
            assert number not in rejected
            assert read[number]["byte_offset"] == start
            assert read[number]["raw"].encode() == raw
        else:
            assert rejected[number].byte_offset == start and rejected[number].raw == raw
            assert len(raw) > limit or "UTF-8" in rejected[number].reason
    assert result.blank == blank
    assert len(read) + len(rejected) + blank == len(ends)


def _after_line(data: bytes, count: int) -> int:
    """The offset just after the ``count``-th newline of ``data`` (0 for none; after the last if fewer)."""
    end = 0
    for _ in range(count):
        found = data.find(b"\n", end)
        if found < 0:
            break
        end = found + 1
    return end
