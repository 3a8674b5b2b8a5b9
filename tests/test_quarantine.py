"""Quarantine is a place lines come back from: ``lakehouse quarantine retry``, in process and killed."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from support import invoke, lakehouse_process, write_stream

from lakehouse import pipeline
from lakehouse.core.files import read_jsonl
from lakehouse.core.paths import Layout, open_root
from lakehouse.ingest import blocks, materialize, retry

pytestmark = pytest.mark.slow

TS = "2026-05-01T09:00:00Z"
STRICT = """/* tickets → ticket: one record per support ticket. */
-- stream: tickets
-- kind: ticket
-- key: ticket_id
-- fields: ticket_id string, body text
-- moved: priority integer
SELECT line_no, body AS text, priority / 10.0 AS score FROM source
"""
# The fix: priorities are words in this producer's logs; the score reads them.
LENIENT = STRICT.replace("priority integer", "priority string").replace(
    "priority / 10.0 AS score",
    "CASE priority WHEN 'high' THEN 0.9 WHEN 'low' THEN 0.1 ELSE TRY_CAST(priority AS DOUBLE) / 10.0 END AS score",
)
TICKETS = [
    {"ts": TS, "ticket_id": "T-1", "body": "login broken", "priority": 7},
    {"ts": TS, "ticket_id": "T-2", "body": "typo", "priority": "high"},
    b"{not json\n",
    {"ts": TS, "ticket_id": "T-4", "body": "slow page", "priority": "low"},
]


def transforms(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tickets.sql").write_text(text)
    return folder


def seeded(root: Path, transforms_dir: Path) -> Layout:
    root.mkdir(parents=True)
    layout = open_root(root, create=True)
    write_stream(layout, "tickets", TICKETS)
    pipeline.materialize(layout, materialize.Options(transforms_dir=transforms_dir))
    return layout


def tickets(layout: Layout) -> dict[str, dict[str, Any]]:
    records = [r for p in layout.evidence_jsonl.rglob("*.jsonl") for r in read_jsonl(p)]
    return {r["metadata"]["ticket_id"]: r for r in records if r["kind"] == "ticket"}


@pytest.mark.parametrize("block_rows", [65_536, 1], ids=["one-block", "a-block-a-line"])
def test_retry_after_fixing_a_transform_brings_back_exactly_the_lines_that_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_rows: int
) -> None:
    monkeypatch.setattr(blocks, "BLOCK_ROWS", block_rows)  # a large retry is mapped block by block
    strict, lenient = transforms(tmp_path / "strict", STRICT), transforms(tmp_path / "lenient", LENIENT)
    layout = seeded(tmp_path / "root", strict)
    assert set(tickets(layout)) == {"T-1"}
    assert [q["line"] for q in retry.open_entries(layout)] == [2, 3, 4]

    outcome = pipeline.retry_quarantine(layout, materialize.Options(transforms_dir=lenient))
    receipt = outcome.receipt
    assert (
        receipt["retry"] is True and receipt["totals"]["resolved"] == 2 and receipt["totals"]["emitted"] == 2
    )
    back = tickets(layout)
    assert set(back) == {"T-1", "T-2", "T-4"}
    assert (back["T-2"]["source"]["line"], back["T-4"]["source"]["line"]) == (2, 4)
    assert (back["T-2"]["score"], back["T-4"]["score"]) == (0.9, 0.1)
    assert back["T-2"]["receipt_id"] == receipt["receipt_id"]

    # exactly as if the lines had been read from their stream with the fixed transform
    fresh = seeded(tmp_path / "fresh", lenient)
    assert {k: v["evidence_id"] for k, v in tickets(fresh).items()} == {
        k: v["evidence_id"] for k, v in back.items()
    }

    [still] = retry.open_entries(layout)
    assert (still["line"], still["reason"]) == (3, "invalid JSON")
    quarantine_bytes = layout.quarantine.read_bytes()
    assert b"quarantine_resolution.v1" in quarantine_bytes  # resolutions are appended, nothing deleted
    assert sum(1 for r in read_jsonl(layout.quarantine) if r["schema"] == "quarantine.v1") == 3

    again = pipeline.retry_quarantine(layout, materialize.Options(transforms_dir=lenient)).receipt
    assert again["totals"]["resolved"] == 0 and again["totals"]["emitted"] == 0
    assert layout.quarantine.read_bytes() == quarantine_bytes  # a second retry changes nothing
    assert set(tickets(layout)) == {"T-1", "T-2", "T-4"}

    con = duckdb.connect(str(layout.catalog), read_only=True)
    rows = con.execute(
        "SELECT line, resolved_receipt_id IS NOT NULL FROM quarantine ORDER BY line"
    ).fetchall()
    con.close()
    assert rows == [(2, True), (3, False), (4, True)]


def test_a_line_that_still_fails_keeps_its_new_reason(tmp_path: Path, runner: CliRunner) -> None:
    strict = transforms(tmp_path / "strict", STRICT)
    layout = seeded(tmp_path / "root", strict)
    stricter = transforms(tmp_path / "stricter", STRICT.replace("body text", "body integer"))
    result = invoke(runner, "quarantine", "retry", "--transforms", str(stricter), "--root", str(layout.root))
    assert result.exit_code == 0, result.stderr
    assert "retried 3 open quarantined lines: 0 resolved" in result.stderr
    reasons = {q["line"]: q["reason"] for q in retry.open_entries(layout)}
    assert reasons == {
        2: "field 'body' is varchar, expected integer",
        3: "invalid JSON",
        4: "field 'body' is varchar, expected integer",
    }
    listed = invoke(runner, "quarantine", "list", "--json", "--root", str(layout.root))
    assert sorted((g["reason"], g["lines"]) for g in map(json.loads, listed.stdout.splitlines())) == [
        ("field 'body' is varchar, expected integer", 2),
        ("invalid JSON", 1),
    ]


FAILPOINTS = ["after_temporaries", "before_journal", "after_journal", "after_first_rename", "after_append"]


def visible(layout: Layout) -> dict[str, Any]:
    return {
        "tickets": sorted((k, v["evidence_id"]) for k, v in tickets(layout).items()),
        "open": [(q["line"], q["reason"]) for q in retry.open_entries(layout)],
        "resolutions": sorted(
            r["quarantine_id"]
            for r in read_jsonl(layout.quarantine)
            if r["schema"] == retry.RESOLUTION_SCHEMA
        ),
        "parquet_parts": sum(1 for _ in layout.parquet.rglob("*.parquet")),
        "journal": layout.commit_journal.exists(),
    }


@pytest.mark.parametrize("failpoint", FAILPOINTS)
def test_a_retry_killed_anywhere_ends_like_a_clean_one(tmp_path: Path, failpoint: str) -> None:
    strict, lenient = transforms(tmp_path / "strict", STRICT), transforms(tmp_path / "lenient", LENIENT)
    clean = seeded(tmp_path / "clean", strict)
    shutil.copytree(clean.root, tmp_path / "killed")
    killed = open_root(tmp_path / "killed")
    pipeline.retry_quarantine(clean, materialize.Options(transforms_dir=lenient))

    args = ("quarantine", "retry", "--transforms", str(lenient), "--root", str(killed.root))
    proc = lakehouse_process(*args, env={"LH_FAILPOINT": failpoint})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    again = lakehouse_process(*args)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert visible(killed) == visible(clean)
    assert len(visible(clean)["resolutions"]) == 2
