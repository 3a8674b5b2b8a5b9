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
