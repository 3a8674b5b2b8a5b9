"""Materialize: evidence out of streams, idempotent, incremental, bad lines quarantined."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from support import write_stream

from lakehouse import pipeline
from lakehouse.core.files import read_jsonl
from lakehouse.core.paths import Layout, open_root
from lakehouse.ingest import blocks, evidence, materialize, writes

pytestmark = pytest.mark.fast


def call(i: int, day: int = 1, **extra: object) -> dict:
    return {
        "ts": f"2026-05-{day:02d}T10:00:{i % 60:02d}Z",
        "call_id": f"c{i}",
        "run_id": f"r{i // 2}",
        "task": "summarize",
        "model": "qwen",
        "status": "ok",
        "prompt_tokens": 10 + i,
        "completion_tokens": 5,
        "latency_ms": 100,
        **extra,
    }


def jsonl_evidence(layout: Layout) -> list[dict]:
    records = []
    for path in sorted(layout.evidence_jsonl.glob("day=*/evidence.jsonl")):
        records.extend(read_jsonl(path))
    return records


def parquet_evidence(layout: Layout) -> list[dict]:
    dataset = ds.dataset(layout.parquet, format="parquet", partitioning="hive")
    return dataset.to_table().to_pylist()


def ids(records: list[dict]) -> list[str]:
    return sorted(r["evidence_id"] for r in records)


def test_model_call_maps_to_evidence_record(layout: Layout) -> None:
    write_stream(layout, "model_calls", [call(1, extra_field={"nested": [1, 2]})])
    receipt = pipeline.materialize(layout).receipt
    [record] = jsonl_evidence(layout)
    assert list(record) == [
        "schema",
        "evidence_id",
        "kind",
        "day",
        "ts",
        "source",
        "run_id",
        "task_id",
        "model",
        "text",
        "passed",
        "score",
        "prompt_tokens",
        "completion_tokens",
        "duration_ms",
        "tags",
        "metadata",
        "receipt_id",
    ]
    assert record["schema"] == "evidence_record.v1"
    assert record["evidence_id"].startswith("ev:") and len(record["evidence_id"]) == 35
    assert record["kind"] == "model_call" and record["day"] == "2026-05-01"
    assert record["ts"] == "2026-05-01T10:00:01Z"
    assert record["source"] == {"stream": "model_calls", "path": "data/_kb/model_calls.jsonl", "line": 1}
    assert (record["model"], record["run_id"], record["passed"]) == ("qwen", "r0", True)
    assert (record["prompt_tokens"], record["completion_tokens"], record["duration_ms"]) == (11, 5, 100)
    assert record["metadata"] == {
        "call_id": "c1",
        "task": "summarize",
        "status": "ok",
        "extra_field": {"nested": [1, 2]},
    }
    assert record["receipt_id"] == receipt["receipt_id"]


def test_every_bad_line_kind_is_quarantined_with_line_and_offset(layout: Layout) -> None:
    lines = [
        json.dumps(call(1)).encode() + b"\n",
        b"{not json\n",
        b"[1, 2]\n",
        b'{"call_id": "no-ts"}\n',
        b'{"ts": "tomorrow-ish", "call_id": "bad-ts"}\n',
        b'{"ts": true, "call_id": "boolean-ts"}\n',
        b'{"ts": "2026-05-01T10:00:00Z", "call_id": "c9", "prompt_tokens": "ten"}\n',
        b'{"ts": "2026-05-01T10:00:00Z", "call_id": "bad-utf8", "task": "caf\xe9"}\n',
        b'{"ts": "2026-05-01T10:00:00Z", "call_id": "long", "task": "' + b"x" * 5000 + b'"}\n',
        json.dumps(call(2)).encode() + b"\n",
    ]
    write_stream(layout, "model_calls", lines)
    receipt = pipeline.materialize(layout, materialize.Options(max_line_bytes=4096)).receipt
    quarantine = list(read_jsonl(layout.quarantine))
    by_line = {q["line"]: q for q in quarantine}
    offsets = [0]
    for raw in lines:
        offsets.append(offsets[-1] + len(raw))
    expected = {
        2: "invalid JSON",
        3: "not a JSON object but array",
        4: "missing ts",
        5: "unparseable ts: tomorrow-ish",
        6: "unparseable ts: true",
        7: "field 'prompt_tokens' is varchar, expected integer",
        8: f"invalid UTF-8 at byte {lines[7].index(bytes([0xE9]))}",
        9: f"line too long: {len(lines[8]) - 1} bytes (limit 4096)",
    }
    assert {line: q["reason"] for line, q in by_line.items()} == expected
    for line, q in by_line.items():
        assert q["offset"] == offsets[line - 1]
        assert q["path"] == "data/_kb/model_calls.jsonl"
        assert q["receipt_id"] == receipt["receipt_id"]
    assert by_line[2]["raw"] == "{not json"
    assert by_line[8]["raw_base64"]  # exact bytes are kept for lines that are not UTF-8
    assert len(jsonl_evidence(layout)) == 2
    assert receipt["totals"]["quarantined"] == 8


def test_second_run_writes_nothing(layout: Layout) -> None:
    write_stream(layout, "model_calls", [call(i) for i in range(20)])
    pipeline.materialize(layout)
    before = {p: p.stat().st_mtime_ns for p in layout.evidence.rglob("*") if p.is_file()}
    receipt = pipeline.materialize(layout).receipt
    after = {p: p.stat().st_mtime_ns for p in layout.evidence.rglob("*") if p.is_file()}
    assert before == after
    assert receipt["totals"] == {"lines": 0, "emitted": 0, "duplicates": 0, "quarantined": 0, "partitions": 0}
    assert len(list(read_jsonl(layout.receipts))) == 2


def test_appended_lines_alone_are_added(layout: Layout) -> None:
    write_stream(layout, "model_calls", [call(i) for i in range(10)])
    pipeline.materialize(layout)
    write_stream(layout, "model_calls", [call(i, day=2) for i in range(10, 15)])
    receipt = pipeline.materialize(layout).receipt
    [inp] = receipt["inputs"]
    assert inp["lines"] == 5 and inp["start_offset"] > 0
    assert receipt["totals"]["emitted"] == 5
    assert [p["day"] for p in receipt["partitions"]] == ["2026-05-02"]
    lines = sorted(r["source"]["line"] for r in jsonl_evidence(layout))
    assert lines == list(range(1, 16))


def test_same_input_in_two_roots_gives_same_ids(tmp_path: Path) -> None:
    results = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        layout = open_root(tmp_path / name, create=True)
        write_stream(layout, "model_calls", [call(i) for i in range(30)])
        write_stream(
            layout,
            "playbooks",
            [{"ts": "2026-05-01T00:00:00Z", "playbook_id": "p", "version": 1, "title": "t", "steps": ["a"]}],
        )
        pipeline.materialize(layout)
        results.append(ids(jsonl_evidence(layout)))
    assert results[0] == results[1] and len(results[0]) == 31


def test_duplicate_natural_keys_are_written_once(layout: Layout) -> None:
    write_stream(layout, "model_calls", [call(1), call(1, model="other"), call(2)])
    receipt = pipeline.materialize(layout).receipt
    records = jsonl_evidence(layout)
    assert len(records) == 2
    assert next(r for r in records if r["metadata"]["call_id"] == "c1")["model"] == "qwen"  # first one wins
    assert receipt["transforms"][0]["duplicates"] == 1


def test_duplicates_across_blocks_and_runs_are_found_and_fresh_ids_kept(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block's ids are looked for among those seen before by their hashes first (materialize/seen_before):
    a repeat in a later block, in the same block, or of an earlier run is still a duplicate, and every fresh
    id is written, whatever block it comes in."""
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 7)
    first = [call(i) for i in range(40)] + [call(3), call(17, model="other")]  # repeats of earlier blocks
    first += [call(50), call(50)]  # a repeat within a block
    write_stream(layout, "model_calls", first)
    receipt = pipeline.materialize(layout).receipt
    assert (receipt["transforms"][0]["emitted"], receipt["transforms"][0]["duplicates"]) == (41, 3)
    write_stream(layout, "model_calls", [call(5), call(60), call(50), call(61)])  # appended: two seen before
    receipt = pipeline.materialize(layout).receipt
    assert (receipt["transforms"][0]["emitted"], receipt["transforms"][0]["duplicates"]) == (2, 2)
    calls = sorted(int(r["metadata"]["call_id"][1:]) for r in jsonl_evidence(layout))
    assert calls == [*range(40), 50, 60, 61]
    assert next(r for r in jsonl_evidence(layout) if r["metadata"]["call_id"] == "c17")["model"] == "qwen"


def test_parquet_and_jsonl_hold_the_same_records(layout: Layout) -> None:
    write_stream(layout, "model_calls", [call(i, day=1 + i % 3) for i in range(30)])
    pipeline.materialize(layout)
    write_stream(layout, "model_calls", [call(i, day=4) for i in range(30, 40)])
    pipeline.materialize(layout)
    from_jsonl = {r["evidence_id"]: r for r in jsonl_evidence(layout)}
    from_parquet = {r["evidence_id"]: r for r in parquet_evidence(layout)}
    assert from_jsonl.keys() == from_parquet.keys() and len(from_jsonl) == 40
    for key, record in from_jsonl.items():
        row = from_parquet[key]
        assert json.loads(row.pop("metadata")) == record.pop("metadata")
        assert row == record
    con = duckdb.connect()
    try:
        glob = (layout.parquet / "*" / "*.parquet").as_posix()
        days = con.execute(
            f"SELECT day, count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
            "GROUP BY ALL ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    assert [str(d) for d, _ in days] == ["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"]


def test_a_day_is_not_cut_into_a_row_group_per_block(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the writer's memory budget the largest days are flushed: a small day interleaved with a large one
    stays one row group (flushing every day at once cut it once per block)."""
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 50)
    monkeypatch.setattr(writes, "PENDING_BYTES", 128 * 1024)
    write_stream(layout, "model_calls", [call(i, day=2 if i % 20 == 0 else 1) for i in range(1000)])
    receipt = pipeline.materialize(layout).receipt
    parts = {p["day"]: pq.ParquetFile(layout.root / p["parquet"]).metadata for p in receipt["partitions"]}
    assert {day: meta.num_rows for day, meta in parts.items()} == {"2026-05-01": 950, "2026-05-02": 50}
    assert parts["2026-05-01"].num_row_groups > 3  # the budget was exceeded, and the large day flushed
    assert parts["2026-05-02"].num_row_groups == 1
    assert len(jsonl_evidence(layout)) == 1000


def test_rows_waiting_for_their_row_group_hold_no_block_alive(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's budget counts the rows left waiting; what they hold in memory must be no more (a day's
    rows once were slices of their sorted block, which kept every block alive whose small day waited)."""
    monkeypatch.setattr(writes, "PENDING_BYTES", 4 * 2**20)
    rows = 5000

    def block(number: int) -> pa.Table:
        lines = range(number * rows, (number + 1) * rows)
        # a block as the evidence query returns it: the evidence columns but the receipt id (the writer's)
        columns = {f.name: pa.nulls(rows, f.type) for f in evidence.EVIDENCE_SCHEMA if f.name != "receipt_id"}
        columns["day"] = pa.array(["2026-05-02" if i % 20 == 0 else "2026-05-01" for i in lines])
        columns["text"] = pa.array([f"{'x' * 200}{i}" for i in lines])
        columns["metadata"] = pa.array(["{}"] * rows)
        return pa.table(
            {**columns, "jsonl_head": pa.array(['{"n":1,'] * rows), "line_no": pa.array(list(lines))}
        )

    held = []
    with writes.Writes(layout, "mr-test") as files:
        for number in range(120):
            files.add(block(number))  # (the block before is written by then)
            if number % 20 == 19:
                held.append(pa.total_allocated_bytes())
        partitions = files.finish()
    assert max(held) < 3 * writes.PENDING_BYTES, [f"{h / 2**20:.1f} MiB" for h in held]
    assert sum(p.rows for p in partitions) == 120 * rows


def test_truncated_last_line_waits_for_the_next_run(layout: Layout) -> None:
    complete = json.dumps(call(1)).encode() + b"\n"
    partial = json.dumps(call(2)).encode()
    write_stream(layout, "model_calls", [complete, partial[:20]])
    receipt = pipeline.materialize(layout).receipt
    assert receipt["inputs"][0]["pending_bytes"] == 20
    assert not layout.quarantine.exists() or not list(read_jsonl(layout.quarantine))
    write_stream(layout, "model_calls", [partial[20:] + b"\n"])
    receipt = pipeline.materialize(layout).receipt
    assert receipt["totals"]["emitted"] == 1
    assert sorted(r["source"]["line"] for r in jsonl_evidence(layout)) == [1, 2]


@pytest.mark.parametrize("change", ["shrank", "replaced"])
def test_file_that_shrank_or_was_replaced_is_read_again_without_duplicates(
    layout: Layout, change: str
) -> None:
    path = write_stream(layout, "model_calls", [call(i) for i in range(10)])
    pipeline.materialize(layout)
    if change == "shrank":
        write_stream(layout, "model_calls", [call(i) for i in range(3)], mode="w")
    else:
        write_stream(layout, "model_calls", [call(i) for i in range(5, 25)], mode="w")
    assert path.exists()
    receipt = pipeline.materialize(layout).receipt
    assert receipt["inputs"][0]["reset"] == change
    expected_new = 0 if change == "shrank" else 15
    assert receipt["totals"]["emitted"] == expected_new
    assert receipt["totals"]["duplicates"] == (3 if change == "shrank" else 5)
    assert len(ids(jsonl_evidence(layout))) == len(set(ids(jsonl_evidence(layout)))) == 10 + expected_new


def test_every_stream_read_again_is_checked_against_its_own_earlier_ids(layout: Layout) -> None:
    """A run loads the earlier runs' ids of each kind it meets (not all kinds at its first block): two
    streams read again in one run both find their earlier lines as duplicates."""
    calls = [call(i) for i in range(6)]
    findings = [
        {"ts": "2026-05-01T10:00:00Z", "audit_id": "a", "finding_id": f"f{i}", "verdict": "pass"}
        for i in range(4)
    ]
    write_stream(layout, "model_calls", calls)
    write_stream(layout, "audit_findings", findings)
    pipeline.materialize(layout)
    write_stream(layout, "model_calls", [call(6), *calls], mode="w")  # a new first line: read again
    write_stream(layout, "audit_findings", [{**findings[0], "finding_id": "f9"}, *findings], mode="w")
    receipt = pipeline.materialize(layout).receipt
    by_kind = {
        t["kind"]: (t["emitted"], t["duplicates"])
        for t in receipt["transforms"]
        if t["emitted"] or t["duplicates"]
    }
    assert by_kind == {"model_call": (1, 6), "audit_finding": (1, 4)}
    assert len(ids(jsonl_evidence(layout))) == len(set(ids(jsonl_evidence(layout)))) == 12


def test_receipt_lists_inputs_transforms_partitions(layout: Layout) -> None:
    write_stream(layout, "model_calls", [call(i, day=1 + i % 2) for i in range(6)])
    receipt = pipeline.materialize(layout).receipt
    assert receipt["schema"] == "materialize_receipt.v1"
    assert receipt["inputs"] == [
        {
            "stream": "model_calls",
            "path": "data/_kb/model_calls.jsonl",
            "start_offset": 0,
            "end_offset": layout.stream("model_calls").stat().st_size,
            "lines": 6,
            "blank_lines": 0,
            "pending_bytes": 0,
            "reset": None,
            "quarantined": 0,
            "top_reason": None,
        }
    ]
    model_calls = next(t for t in receipt["transforms"] if t["kind"] == "model_call")
    assert model_calls == {
        "name": "01_model_calls",
        "stream": "model_calls",
        "kind": "model_call",
        "read": 6,
        "emitted": 6,
        "duplicates": 0,
        "quarantined": 0,
    }
    assert [(p["day"], p["rows"]) for p in receipt["partitions"]] == [("2026-05-01", 3), ("2026-05-02", 3)]
    for part in receipt["partitions"]:
        assert (layout.root / part["parquet"]).exists() and (layout.root / part["jsonl"]).exists()
    assert list(read_jsonl(layout.receipts))[-1] == receipt


def test_all_twelve_streams_materialize(layout: Layout) -> None:
    from lakehouse.demo import synth

    synth.write_streams(layout.kb, total=600, seed=1, end_day="2026-05-02", days=5)
    receipt = pipeline.materialize(layout).receipt
    kinds = {t["kind"]: t for t in receipt["transforms"] if not t["kind"].startswith("otel_")}
    assert len(kinds) == 12
    for stat in kinds.values():
        assert stat["read"] > 0 and stat["quarantined"] == 0
        assert stat["emitted"] + stat["duplicates"] == stat["read"]


def test_missing_natural_key_falls_back_to_the_row_content(layout: Layout) -> None:
    row = {"ts": "2026-05-01T10:00:00Z", "model": "qwen"}
    write_stream(layout, "model_calls", [row, row, {**row, "model": "other"}])
    pipeline.materialize(layout)
    assert len(jsonl_evidence(layout)) == 2  # same content, same id


def test_catalog_mirror_is_attachable_from_another_directory(
    layout: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_stream(layout, "model_calls", [call(i) for i in range(5)] + [b"oops\n"])
    pipeline.materialize(layout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{layout.catalog}' AS lh (READ_ONLY)")
        assert con.execute("SELECT count(*) FROM lh.evidence").fetchone() == (5,)
        assert con.execute("SELECT count(*) FROM lh.receipts").fetchone() == (1,)
        assert con.execute("SELECT reason FROM lh.quarantine").fetchall() == [("invalid JSON",)]
    finally:
        con.close()


def test_moved_root_still_works(layout: Layout, tmp_path: Path) -> None:
    write_stream(layout, "model_calls", [call(i) for i in range(5)])
    pipeline.materialize(layout)
    moved = tmp_path / "moved"
    shutil.move(layout.root, moved)
    write_stream(open_root(moved), "model_calls", [call(9)])
    receipt = pipeline.materialize(open_root(moved)).receipt
    assert receipt["totals"]["emitted"] == 1


def test_the_benchmark_alternates_copy_and_materialize_and_quotes_the_median_ratio(tmp_path: Path) -> None:
    """bench/materialize.py (BENCHMARKS.md's materialize figures) runs its pairs: every line emitted, the
    ratio the median of the pairs' (within their range), the pairs' extra roots removed."""
    bench = Path(__file__).resolve().parent.parent / "bench" / "materialize.py"
    args = ["--lines", "3000", "--days", "3", "--pairs", "2", "--work", str(tmp_path), "--json"]
    done = subprocess.run([sys.executable, str(bench), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pairs"] == 2 and result["emitted"] == result["lines"] == 3000
    low, high = result["ratio_range"]
    assert 0 < low <= result["ratio_vs_copy"] <= high
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy_out", "root"]
