"""Golden output of materialize: a fixed input (the benchmark's generator, smaller, with dirty lines of every
quarantine reason and every producer shape of the coercion table) against a checked-in expected output, file
for file: the evidence JSONL bytes, the Parquet rows, the quarantine and the receipts (minus ids and times).

A rework of materialize's hot path (issue 30) must leave this test passing untouched. A deliberate change of
what materialize writes regenerates the expected files: ``LH_GOLDEN_UPDATE=1 pytest tests/test_golden_materialize.py``,
then review the diff of tests/golden/ like any other change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from support import write_stream

from lakehouse import pipeline
from lakehouse.core.paths import Layout
from lakehouse.demo import synth
from lakehouse.ingest import materialize, streams

pytestmark = pytest.mark.slow
GOLDEN = Path(__file__).resolve().parent / "golden" / "materialize"
TS = "2026-11-20T08:00:00Z"
MAX_LINE_BYTES = 4096
BLOCK_BYTES = streams.BLOCK_BYTES
VOLATILE = {
    "started_at",
    "finished_at",
    "duration_ms",
    "root",
    "pid",
    "host",
    "hostname",
    "tool_version",
}  # and *_at

# Dirty lines: one per quarantine reason, and the producer shapes the coercion table reads.
DIRTY: dict[str, list[Any]] = {
    "model_calls": [
        b'{"ts": "2026-11-20T10:00:00Z", "call_id": "call-broken", "model": \n',  # not JSON
        b"\xef\xbb\xbf" + json.dumps({"ts": TS, "call_id": "bom"}).encode() + b"\n",  # byte-order mark
        {"ts": 1763625600, "call_id": "epoch-seconds"},
        {"ts": 1763625600123, "call_id": "epoch-millis"},
        {"ts": TS, "call_id": 7},  # a numeric id
        {"ts": TS, "call_id": "tokens", "prompt_tokens": "12", "latency_ms": 12.7},  # numbers as strings
        (json.dumps({"ts": TS, "call_id": "crlf"}) + "\r\n").encode(),
        {"ts": TS, "call_id": "bad-tokens", "prompt_tokens": [1]},  # wrong type
        {"ts": TS, "call_id": "bom"},  # a key seen before (a duplicate)
    ],
    "task_outcomes": [b'["not", "an", "object"]\n', b"\n", b"   \n"],
    "audit_findings": [
        {"audit_id": "audit-x", "finding_id": "f0", "finding": "no timestamp"},
        {"ts": TS, "audit_id": "a1", "finding_id": 1, "phase": 3, "verdict": "pass", "finding": "ok"},
    ],
    "escalations": [{"ts": "last tuesday", "run_id": "run-x", "from_model": "llama3.1:8b"}],
    "tool_calls": [{"ts": "2026-11-21T09:00:00Z", "call_id": "tool-x", "tool": "shell", "ok": "yes"}],
    "feedback": [b'{"ts": "2026-11-22T09:00:00Z", "feedback_id": "fb-x", "comment": "caf\xe9 latin-1"}\n'],
    "scenario_results": [
        b'{"ts": "2026-11-23T09:00:00Z", "suite": "s", "scenario_id": "long", "error": "'
        + b"x" * MAX_LINE_BYTES
        + b'"}\n'
    ],
    "reviews": [{"ts": TS, "review_id": "r1", "comments": ["looks good", "ship it"], "verdict": "approve"}],
    "incidents": [
        b'{"ts": "2026-11-29T23:59:00Z", "incident_id": "inc-partial", "summ'
    ],  # still being written
}


def write_input(layout: Layout, part: int) -> None:
    """Part 0: the first half of every stream; part 1: the rest, then the dirty lines."""
    for stream in synth.GENERATORS:
        lines = [line.encode() + b"\n" for line in synth.stream_lines(stream, 16, 11, "2026-11-30", 10)]
        half = len(lines) // 2
        write_stream(layout, stream, lines[:half] if part == 0 else lines[half:])
        if part == 1:
            write_stream(layout, stream, DIRTY.get(stream, []))


def snapshot(layout: Layout) -> dict[str, str]:
    """What materialize wrote, as text files: name -> content; each run's receipt id (time-based) is
    replaced by its run's number, wherever it appears."""
    receipts = [json.loads(line) for line in layout.receipts.read_text(encoding="utf-8").splitlines()]
    files = _files(layout)
    for number, receipt in enumerate(receipts, start=1):
        files = {
            name: text.replace(receipt["receipt_id"], f"receipt-{number}") for name, text in files.items()
        }
    return files


def _files(layout: Layout) -> dict[str, str]:
    files: dict[str, str] = {}
    for day_file in sorted(layout.evidence_jsonl.glob("day=*/evidence.jsonl")):
        files[f"evidence/{day_file.parent.name}.jsonl"] = day_file.read_text(encoding="utf-8")
    rows = []
    for part in sorted(layout.parquet.glob("day=*/*.parquet")):
        rows += pq.read_table(part).to_pylist()
    rows.sort(key=lambda r: r["evidence_id"])
    files["parquet_rows.jsonl"] = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows)
    for name, path in (("quarantine.jsonl", layout.quarantine), ("receipts.jsonl", layout.receipts)):
        files[name] = "".join(
            json.dumps(_stable(json.loads(line)), sort_keys=True) + "\n"
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    return files


def _stable(value: Any) -> Any:
    """A record without what differs run to run (ids and times of the run)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE and not k.endswith("_at")}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


@pytest.mark.parametrize("block_bytes", [BLOCK_BYTES, 2048], ids=["one-block", "2KiB-blocks"])
def test_materialize_writes_exactly_the_golden_output(
    layout: Layout, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    """Also when every stream is read in many small blocks: duplicates across blocks, lines longer than a
    block, days filled block by block must come out the same."""
    monkeypatch.setattr(streams, "BLOCK_BYTES", block_bytes)
    options = materialize.Options(max_line_bytes=MAX_LINE_BYTES)
    write_input(layout, 0)
    pipeline.materialize(layout, options)
    write_input(layout, 1)
    pipeline.materialize(layout, options)
    pipeline.materialize(layout, options)  # a no-op: changes nothing
    got = snapshot(layout)
    if os.environ.get("LH_GOLDEN_UPDATE") and block_bytes == BLOCK_BYTES:
        for old in GOLDEN.rglob("*.jsonl"):
            old.unlink()
        for name, text in got.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_text(text, encoding="utf-8")
    expected = {
        str(p.relative_to(GOLDEN)): p.read_text(encoding="utf-8") for p in sorted(GOLDEN.rglob("*.jsonl"))
    }
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert got[name] == expected[name], f"{name} differs from tests/golden/materialize/{name}"
