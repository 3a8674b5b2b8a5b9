"""``lakehouse prune --before DAY [--lake]``: removes what it says and nothing else, in the root and in the
lake; the removed days do not come back (sync, rebuild, materialize, another host's push)."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
from pathlib import Path

import pytest
from lake_servers import S3Server
from lake_support import Lakes, demo_root, lake_sql, lakehouse, status
from support import lakehouse_command

BY_DAY = (
    "SELECT 'evidence' AS t, CAST(day AS VARCHAR) AS day, count(*) AS n FROM evidence GROUP BY ALL "
    "UNION ALL SELECT 'replay_runs', CAST(day AS VARCHAR), count(*) FROM replay_runs GROUP BY ALL ORDER BY ALL"
)


def by_day(root: Path, *, on_lake: bool = False) -> dict[tuple[str, str], int]:
    if on_lake:
        rows = lake_sql(root, BY_DAY)
    else:
        out = lakehouse("sql", BY_DAY, "--root", str(root), "--format", "jsonl").stdout
        rows = [json.loads(line) for line in out.splitlines()]
    return {(row["t"], row["day"]): row["n"] for row in rows}


def sources_digest(root: Path) -> dict[str, str]:
    kb = root / "data" / "_kb"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(kb.glob("*.jsonl"))
            if p.name not in ("prune_receipts.jsonl",)}  # fmt: skip


def on_a_terminal(args: list[str], answer: str) -> subprocess.CompletedProcess[str]:
    """The CLI with a terminal on stdin (a pseudo-terminal), answering its question."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([*lakehouse_command(), *args], stdin=terminal, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    os.close(terminal)
    os.write(controller, f"{answer}\n".encode())
    out, err = proc.communicate(timeout=120)
    os.close(controller)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def split(
    counts: dict[tuple[str, str], int], before: str
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Rows per table before the day, and the per-day counts from the day on."""
    gone: dict[str, int] = {"evidence": 0, "replay_runs": 0}
    for (table, day), n in counts.items():
        if day < before:
            gone[table] += n
    return gone, {key: n for key, n in counts.items() if key[1] >= before}


def test_prune_removes_the_days_before_and_nothing_else_and_they_do_not_come_back(tmp_path: Path) -> None:
    root = demo_root(tmp_path, "root")
    lakehouse("materialize", "--root", str(root))  # the demo's own replays, materialized too
    counts, streams = by_day(root), sources_digest(root)
    days = sorted({day for _, day in counts})
    before = days[len(days) // 3]
    gone, kept = split(counts, before)
    assert gone["evidence"] > 0 and gone["replay_runs"] > 0 and kept

    refused = lakehouse("prune", "--before", before, "--root", str(root), check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr  # not a terminal, no --yes: nothing removed
    assert by_day(root) == counts
    declined = on_a_terminal(["prune", "--before", before, "--root", str(root)], answer="n")
    assert (
        declined.returncode == 1
        and "remove them?" in declined.stderr
        and "nothing removed" in declined.stderr
    )
    assert f"{gone['evidence']:,} evidence rows" in declined.stderr  # the question says what would go
    assert by_day(root) == counts
    mistyped = lakehouse("prune", "--before", "2099-01-01", "--yes", "--root", str(root), check=False)
    assert (
        mistyped.returncode == 2 and "is after tomorrow" in mistyped.stderr
    )  # a mistyped year, even with --yes
    assert by_day(root) == counts

    done = lakehouse("prune", "--before", before, "--yes", "--json", "--root", str(root))
    receipt = json.loads(done.stdout)
    assert receipt["schema"] == "prune_receipt.v1" and receipt["before"] == before
    assert receipt["removed"]["evidence_rows"] == gone["evidence"]
    assert receipt["removed"]["replay_runs"] == gone["replay_runs"]
    assert receipt["removed"]["evidence_days"] == sorted(
        {d for (t, d) in counts if t == "evidence" and d < before}
    )
    assert all(not (root / path).exists() for path in receipt["removed"]["files"])
    assert by_day(root) == kept
    logged = (root / "data" / "_kb" / "prune_receipts.jsonl").read_text().splitlines()
    assert [json.loads(line)["prune_id"] for line in logged] == [receipt["prune_id"]]
    assert sources_digest(root) == streams  # the source streams are left alone

    for command in (["sync"], ["rebuild"], ["materialize"]):
        lakehouse(*command, "--root", str(root))
        assert by_day(root) == kept, command  # nothing pruned comes back
    late = {
        "incident_id": "inc-late",
        "ts": f"{days[0]}T09:00:00Z",
        "summary": "reported late, for a pruned day",
    }
    with (root / "data" / "_kb" / "incidents.jsonl").open("a") as log:  # the demo's ends mid-line
        log.write("\n" + json.dumps(late) + "\n")
    receipt = json.loads(lakehouse("materialize", "--json", "--root", str(root)).stdout)
    assert receipt["totals"]["pruned"] == 1 and receipt["totals"]["emitted"] == 0
    incidents = next(t for t in receipt["transforms"] if t["stream"] == "incidents")
    assert incidents["read"] == incidents["emitted"] + incidents["duplicates"] + incidents["quarantined"] + 1
    assert by_day(root) == kept  # the late line's day stays pruned
    again = json.loads(lakehouse("prune", "--before", before, "--yes", "--json", "--root", str(root)).stdout)
    assert again["removed"]["evidence_rows"] == 0 and again["removed"]["replay_runs"] == 0


@pytest.mark.slow
def test_prune_with_the_lake_deletes_there_expires_snapshots_and_removes_files(
    tmp_path: Path, lakes: Lakes, s3: S3Server
) -> None:
    lake = lakes.new()
    root, other = demo_root(tmp_path, "root"), demo_root(tmp_path, "other")
    early = {"incident_id": "inc-early", "ts": "2026-03-01T08:00:00Z", "summary": "one row on its day"}
    with (root / "data" / "_kb" / "incidents.jsonl").open("a") as log:  # a part of one row: DuckLake keeps
        log.write("\n" + json.dumps(early) + "\n")  # so small a deletion inline unless it is flushed
    lakehouse("materialize", "--root", str(root))
    for host in (root, other):
        lakehouse("lake", "init", "--root", str(host), *lake)
        lakehouse("lake", "push", "--root", str(host))
    counts = by_day(root, on_lake=True)
    days = sorted({day for _, day in counts})
    before = days[len(days) // 3]
    gone, kept = split(counts, before)
    bucket = lake[lake.index("--data") + 1].split("/")[2]
    old_parts = [k for k in s3.keys(bucket, "agents/evidence/") if k.split("day=")[1][:10] < before]
    assert any("day=2026-03-01" in key for key in old_parts)

    done = lakehouse("prune", "--before", before, "--lake", "--yes", "--json", "--root", str(root))
    receipt = json.loads(done.stdout)
    assert (
        receipt["lake"]["evidence"] == gone["evidence"]
        and receipt["lake"]["replay_runs"] == gone["replay_runs"]
    )
    assert receipt["lake"]["snapshots_expired"] > 0 and receipt["lake"]["files_deleted"] >= len(old_parts)
    assert by_day(root, on_lake=True) == kept  # the lake's other days are untouched
    remaining = set(s3.keys(bucket, "agents/evidence/"))
    assert not remaining & set(old_parts)  # the pruned days' parts are gone from the object store
    history = lake_sql(root, "SELECT count(*) AS n FROM lake.snapshots()")
    assert history[0]["n"] <= 2  # the snapshots that still held the pruned rows are gone

    lakehouse(
        "lake", "push", "--root", str(other)
    )  # another host still holds the old days: not published again
    assert by_day(root, on_lake=True) == kept
    assert all(row["not_in_lake"] == 0 for row in status(other).values())
