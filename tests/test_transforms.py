"""Transforms are declarative SQL files; a user adds one without touching Python."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import write_stream

from lakehouse import pipeline
from lakehouse.core.errors import TransformError
from lakehouse.core.files import read_jsonl
from lakehouse.core.paths import Layout
from lakehouse.ingest import materialize
from lakehouse.ingest.transforms import load_transforms, parse

pytestmark = pytest.mark.fast

TICKETS = """/* tickets → ticket: one record per support ticket. */
-- stream: tickets
-- kind: ticket
-- key: ticket_id
-- fields: ticket_id string, body string
-- moved: priority integer, labels strings
SELECT line_no, body AS text, priority / 10.0 AS score, labels AS tags FROM source
"""


def test_builtin_transforms_cover_the_spec_streams_and_opentelemetry() -> None:
    transforms = load_transforms()
    assert [(t.stream, t.kind) for t in transforms] == [
        ("model_calls", "model_call"),
        ("task_outcomes", "task_outcome"),
        ("audit_findings", "audit_finding"),
        ("escalations", "escalation"),
        ("playbooks", "playbook"),
        ("reviews", "review"),
        ("incidents", "incident"),
        ("tool_calls", "tool_call"),
        ("feedback", "feedback"),
        ("scenario_results", "scenario"),
        ("replay_runs", "replay"),
        ("decisions", "decision"),
        ("otel_spans", "otel_span"),
        ("otel_logs", "otel_log"),
    ]
    assert all(t.purpose for t in transforms)
    assert [t.key for t in transforms][:3] == [("call_id",), ("task_id", "ts"), ("audit_id", "finding_id")]
    assert next(t for t in transforms if t.stream == "replay_runs").time_field == "recorded_at"
    spans = next(t for t in transforms if t.stream == "otel_spans")
    assert (spans.key, spans.time_field) == (("trace_id", "span_id"), "start_time")
    assert spans.max_line_bytes is not None and spans.max_line_bytes >= 64 * 1024 * 1024  # whole prompts


def test_user_transform_dir_adds_a_kind(layout: Layout, tmp_path: Path) -> None:
    extra = tmp_path / "my_transforms"
    extra.mkdir()
    (extra / "tickets.sql").write_text(TICKETS)
    write_stream(
        layout,
        "tickets",
        [
            {
                "ts": "2026-05-01T09:00:00Z",
                "ticket_id": "T-1",
                "body": "login broken",
                "priority": 7,
                "labels": ["auth"],
                "reporter": "ana",
            },
            {"ts": "2026-05-01T09:05:00Z", "ticket_id": "T-2", "body": "typo", "priority": "high"},
        ],
    )
    receipt = pipeline.materialize(layout, materialize.Options(transforms_dir=extra)).receipt
    assert len(receipt["transforms"]) == len(load_transforms()) + 1
    [record] = read_jsonl(layout.jsonl_day("2026-05-01"))
    assert (record["kind"], record["text"], record["score"], record["tags"]) == (
        "ticket",
        "login broken",
        0.7,
        ["auth"],
    )
    assert record["metadata"] == {"ticket_id": "T-1", "body": "login broken", "reporter": "ana"}
    [bad] = read_jsonl(layout.quarantine)
    assert bad["reason"] == "field 'priority' is varchar, expected integer" and bad["line"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- kind: x\nSELECT line_no FROM source", "missing '-- stream:' header"),
        ("-- stream: s\n-- kind: x\n-- fields: a blob\nSELECT line_no FROM source", "type one of"),
        (
            "-- stream: s\n-- kind: x\n-- key: nope\nSELECT line_no FROM source",
            "key field 'nope' is not declared",
        ),
        ("-- stream: s\n-- kind: x\nDELETE FROM source", "must be a SELECT"),
    ],
)
def test_malformed_transform_headers_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("/* bad */\n" + text)
    with pytest.raises(TransformError, match=r"bad\.sql") as info:
        parse(path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ("SELECT body AS text FROM source", "must return line_no"),
        ("SELECT line_no, body AS colour FROM source", "unknown output columns ['colour']"),
        ("SELECT line_no, nonexistent AS text FROM source", "nonexistent"),
    ],
)
def test_transform_sql_errors_name_the_file(
    layout: Layout, tmp_path: Path, select: str, message: str
) -> None:
    extra = tmp_path / "t"
    extra.mkdir()
    (extra / "tickets.sql").write_text(TICKETS.split("SELECT")[0] + select)
    write_stream(layout, "tickets", [{"ts": "2026-05-01T09:00:00Z", "ticket_id": "T-1", "body": "x"}])
    with pytest.raises(TransformError, match="tickets") as info:
        pipeline.materialize(layout, materialize.Options(transforms_dir=extra))
    assert message in str(info.value)
    assert not layout.receipts.exists()


def test_broken_transform_fails_even_when_its_stream_has_no_new_lines(layout: Layout, tmp_path: Path) -> None:
    extra = tmp_path / "t"
    extra.mkdir()
    (extra / "tickets.sql").write_text(
        TICKETS.split("SELECT")[0] + "SELECT line_no, nope AS text FROM source"
    )
    with pytest.raises(TransformError, match="nope"):
        pipeline.materialize(layout, materialize.Options(transforms_dir=extra))


def test_a_mapped_value_with_no_reading_quarantines_its_line_not_the_run(
    layout: Layout, tmp_path: Path
) -> None:
    """A transform's output that its evidence column cannot hold (a token sum past BIGINT, text for a
    score) quarantines that line with the reason; the other lines are materialized, and a retry keeps
    the line open."""
    extra = tmp_path / "t"
    extra.mkdir()
    (extra / "tickets.sql").write_text(
        TICKETS.split("SELECT")[0] + "SELECT line_no, body AS text, body AS score FROM source"
    )
    write_stream(
        layout,
        "tickets",
        [
            {"ts": "2026-05-01T09:00:00Z", "ticket_id": "T-1", "body": "0.25"},
            {"ts": "2026-05-01T09:01:00Z", "ticket_id": "T-2", "body": "not a number"},
        ],
    )
    run = {
        "schema": "replay_run.v1",
        "input_task": "t",
        "recorded_at": "2026-05-01T10:00:00Z",
        "duration_ms": 5,
    }
    huge = [{"prompt_tokens": 2**63 - 1}, {"prompt_tokens": 5}]
    write_stream(
        layout,
        "replay_runs",
        [
            {**run, "recorded_run_id": "replay:a", "calls": huge},
            {**run, "recorded_run_id": "replay:b", "calls": [{"prompt_tokens": 7}]},
        ],
    )
    receipt = pipeline.materialize(layout, materialize.Options(transforms_dir=extra)).receipt
    records = read_jsonl(layout.jsonl_day("2026-05-01"))
    assert sorted((r["kind"], r["text"], r["score"], r["prompt_tokens"]) for r in records) == [
        ("replay", "t", None, 7),
        ("ticket", "0.25", 0.25, None),
    ]
    reasons = {(q["stream"], q["line"]): q["reason"] for q in read_jsonl(layout.quarantine)}
    assert reasons == {
        ("tickets", 2): "score not a number has no reading as DOUBLE",
        ("replay_runs", 1): f"prompt_tokens {2**63 + 4} has no reading as BIGINT",
    }
    assert receipt["totals"]["quarantined"] == 2
    retried = pipeline.retry_quarantine(layout, materialize.Options(transforms_dir=extra)).receipt
    assert retried["totals"]["emitted"] == 0 and len(list(read_jsonl(layout.quarantine))) == 2
