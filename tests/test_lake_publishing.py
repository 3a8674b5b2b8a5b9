"""Publishing to the lake as a step of the commit: a process SIGKILLed at each publishing step publishes
exactly once when it runs again; three hosts materializing and replaying into one lake at once; a lake
whose catalog stops during a replay batch loses nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lake_servers import Postgres
from lake_support import Lakes, demo_root, lake_sql, lakehouse, spawn, status

pytestmark = pytest.mark.slow
STEPS = ("lake_before_publish", "lake_part_written", "lake_before_commit", "lake_after_commit")
CONTENT = (
    "SELECT 'evidence' AS t, count(*) AS n, count(DISTINCT evidence_id) AS ids, "
    "  hash(string_agg(evidence_id, ',' ORDER BY evidence_id)) AS keys FROM evidence "
    "UNION ALL SELECT 'replay_runs', count(*), count(DISTINCT recorded_run_id), "
    "  hash(string_agg(recorded_run_id, ',' ORDER BY recorded_run_id)) FROM replay_runs "
    "UNION ALL SELECT 'receipts', count(*), count(DISTINCT receipt_id), 0 FROM receipts "
    "UNION ALL SELECT 'quarantine', count(*), count(DISTINCT quarantine_id), "
    "  hash(string_agg(stream || ':' || line, ',' ORDER BY stream, line)) FROM quarantine ORDER BY t"
)
# What hosts appended, before the views keep one row a key: a root appends each row once, so each key
# of one root's lake is there once (the views would hide a second copy; these counts do not).
APPENDED = (
    "SELECT 'evidence' AS t, count(*) AS n, count(DISTINCT evidence_id) AS ids FROM evidence_appended "
    "UNION ALL SELECT 'replay_runs', count(*), count(DISTINCT recorded_run_id) FROM replay_runs_appended "
    "UNION ALL SELECT 'receipts', count(*), count(DISTINCT receipt_id) FROM receipts_appended ORDER BY t"
)


def appended_once(root: Path) -> bool:
    return all(row["n"] == row["ids"] for row in lake_sql(root, APPENDED))


def sources(tmp_path: Path, lines: int = 300) -> Path:
    """A demo's streams, unmaterialized: what an agent system left for a new root."""
    demo = demo_root(tmp_path, "demo", lines=lines)
    streams = tmp_path / "streams"
    shutil.copytree(demo / "data" / "_kb", streams)
    for output in ("receipts.jsonl", "quarantine.jsonl", "rag_corpus.jsonl"):
        (streams / output).unlink(missing_ok=True)
    return streams


def joined_root(tmp_path: Path, name: str, streams: Path, lake: list[str]) -> Path:
    root = tmp_path / name
    shutil.copytree(streams, root / "data" / "_kb")
    lakehouse("lake", "init", "--root", str(root), *lake)
    return root


def test_a_process_killed_at_each_publishing_step_publishes_exactly_once_when_run_again(
    tmp_path: Path, lakes: Lakes
) -> None:
    streams = sources(tmp_path)
    clean = joined_root(tmp_path, "clean", streams, lakes.new())
    lakehouse("materialize", "--root", str(clean))
    lakehouse("materialize", "--root", str(clean))  # the killed roots run twice too (a receipt each)
    expected = lake_sql(clean, CONTENT)
    assert {row["t"]: row["n"] for row in expected}["evidence"] > 100
    assert all(row["n"] == row["ids"] for row in expected)

    for step in STEPS:
        root = joined_root(tmp_path, step, streams, lakes.new())
        killed = lakehouse("materialize", "--root", str(root), check=False, env={"LH_FAILPOINT": step})
        assert killed.returncode == -9, (step, killed.stderr)  # the step was reached, and died there
        again = lakehouse("materialize", "--root", str(root))
        assert "warning" not in again.stderr, (step, again.stderr)
        assert lake_sql(root, CONTENT) == expected, step
        assert appended_once(root), step  # a push that died after its commit is not sent again
        assert all(row["not_in_lake"] == 0 for row in status(root).values()), step
        assert not list((root / "data" / "_state" / "lake_outbox").glob("*.json")), step


def append_incidents(root: Path, tag: str, count: int = 5) -> None:
    lines = [
        {"incident_id": f"inc-{tag}-{i}", "ts": "2026-11-30T10:00:00Z", "summary": tag} for i in range(count)
    ]
    with (root / "data" / "_kb" / "incidents.jsonl").open("a") as log:  # the demo's ends mid-line
        log.write("\n" + "".join(json.dumps(line) + "\n" for line in lines))


def test_the_record_of_what_a_root_published_sends_each_row_once_and_is_rebuilt_from_the_lake(
    tmp_path: Path, lakes: Lakes
) -> None:
    """Pushes find their rows in the root's record, not in the lake; a record that is lost, or that
    belongs to the lake the root left, is rebuilt from the lake's keys: nothing twice, nothing missing."""
    streams = sources(tmp_path)
    root = joined_root(tmp_path, "host", streams, lakes.new())
    record = root / "data" / "_state" / "lake_published.duckdb"
    lakehouse("materialize", "--root", str(root))  # the first push: checked against the lake
    assert record.exists()
    append_incidents(root, "second")
    lakehouse("materialize", "--root", str(root))  # from the record
    (found,) = lake_sql(root, "SELECT count(*) AS n FROM evidence WHERE text LIKE '%second%'")
    assert found["n"] == 5 and appended_once(root)

    record.unlink()  # lost: the next push is checked against the lake again
    append_incidents(root, "third")
    lakehouse("materialize", "--root", str(root))
    assert appended_once(root) and all(row["not_in_lake"] == 0 for row in status(root).values())

    record.write_bytes(b"not a database" * 100)  # damaged: moved aside, made anew, checked against the lake
    append_incidents(root, "damaged")
    done = lakehouse("materialize", "--root", str(root))
    assert "warning" not in done.stderr, done.stderr
    assert appended_once(root) and all(row["not_in_lake"] == 0 for row in status(root).values())
    assert len(list(record.parent.glob("lake_published.duckdb.damaged-*"))) == 1

    lakehouse("lake", "init", "--root", str(root), *lakes.new())  # another lake: the record is not its
    append_incidents(root, "fourth")
    lakehouse("materialize", "--root", str(root))
    assert appended_once(root) and all(row["not_in_lake"] == 0 for row in status(root).values())
    mine = lakehouse("sql", "SELECT count(*) AS n FROM evidence", "--root", str(root), "--format", "jsonl")
    assert lake_sql(root, "SELECT count(*) AS n FROM evidence") == [json.loads(mine.stdout)]


def logged_runs(root: Path) -> list[dict[str, object]]:
    return [
        json.loads(line) for line in (root / "data" / "_kb" / "replay_runs.jsonl").read_text().splitlines()
    ]


def tasks_file(path: Path, host: str, count: int = 20) -> Path:
    lines = [
        json.dumps({"task": f"{host}: rotate the expiring certificates of service {i}"}) for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_three_hosts_materializing_and_replaying_into_one_lake_at_once_publish_each_row_once(
    tmp_path: Path, lakes: Lakes
) -> None:
    streams = sources(tmp_path)
    lake = lakes.new()
    roots = [joined_root(tmp_path, f"host{i}", streams, lake) for i in range(3)]
    only_here = {"incident_id": "inc-only-here", "ts": "2026-11-30T10:00:00Z", "summary": "disk full"}
    with (roots[2] / "data" / "_kb" / "incidents.jsonl").open("a") as log:  # the demo's ends mid-line
        log.write("\n" + json.dumps(only_here) + "\n")  # overlapping logs: the three share all but this
    procs = []
    for root in roots:
        procs.append(spawn("materialize", "--root", str(root)))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    procs = [
        spawn("replay", "--tasks", str(tasks_file(tmp_path / f"{r.name}.jsonl", r.name)), "--dry-run",
              "--concurrency", "4", "--root", str(r))
        for r in roots
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 1), err
        assert "warning" not in err, err
    counts = {row["t"]: row for row in lake_sql(roots[0], CONTENT)}
    assert all(row["n"] == row["ids"] for row in counts.values())  # every key once
    local = [status(root) for root in roots]
    for mine in local:
        assert all(row["not_in_lake"] == 0 for row in mine.values())
    runs = [len(logged_runs(root)) for root in roots]
    # the demo's recorded runs are shared; each host's 20 new runs are its own
    assert counts["replay_runs"]["n"] == runs[0] + 40 and runs[0] == runs[1] == runs[2]
    assert (
        counts["evidence"]["n"] == max(m["evidence"]["local"] for m in local) == local[2]["evidence"]["local"]
    )
    assert local[0]["evidence"]["local"] == local[2]["evidence"]["local"] - 1


def test_postgres_stopped_during_a_replay_batch_loses_nothing_and_push_catches_up(
    tmp_path: Path, lakes: Lakes, postgres: Postgres
) -> None:
    root = joined_root(tmp_path, "host", sources(tmp_path), lakes.new())
    lakehouse("materialize", "--root", str(root))
    postgres.stop()
    try:
        batch = lakehouse(
            "replay", "--tasks", str(tasks_file(tmp_path / "tasks.jsonl", "host")), "--dry-run",
            "--concurrency", "4", "--root", str(root), check=False,
        )  # fmt: skip
        assert batch.returncode in (0, 1), batch.stderr
        warnings = [line for line in batch.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "the lake is behind" in warnings[0], batch.stderr
        assert "'lakehouse lake push' catches it up" in warnings[0] and "Traceback" not in batch.stderr
        failed = lakehouse("lake", "push", "--root", str(root), check=False)
        assert failed.returncode == 4 and "Traceback" not in failed.stderr
        assert failed.stderr.startswith("error: cannot reach the lake") and failed.stderr.count("\n") == 1
    finally:
        postgres.start()
    logged = logged_runs(root)
    assert sum("host: rotate" in run["input_task"] for run in logged) == 20  # every run in the local log
    assert status(root)["replay_runs"]["not_in_lake"] == 20
    lakehouse("lake", "push", "--root", str(root))
    lakehouse("lake", "push", "--root", str(root))  # idempotent
    after = status(root)
    assert after["replay_runs"]["in_lake"] == len(logged)
    assert all(row["not_in_lake"] == 0 for row in after.values())
    assert not list((root / "data" / "_state" / "lake_outbox").glob("*.json"))


def test_a_quarantined_line_resolved_by_a_retry_is_resolved_in_the_lake(tmp_path: Path, lakes: Lakes) -> None:
    root = joined_root(tmp_path, "host", sources(tmp_path), lakes.new())
    long = [
        {"incident_id": f"inc-long-{i}", "ts": "2026-04-20T10:00:00Z", "summary": "x" * 2000}
        for i in range(3)
    ]
    with (root / "data" / "_kb" / "incidents.jsonl").open("a") as log:  # the demo's ends mid-line
        log.write("\n" + "".join(json.dumps(line) + "\n" for line in long))
    lakehouse("materialize", "--max-line-bytes", "1024", "--root", str(root))  # the long lines quarantined
    open_in_lake = (
        "SELECT count(*) AS n FROM quarantine WHERE resolved_receipt_id IS NULL AND reason LIKE '%bytes%'"
    )
    (held,) = lake_sql(root, open_in_lake)
    assert held["n"] >= 3  # published while open (the demo has long lines of its own)
    retried = lakehouse("quarantine", "retry", "--max-line-bytes", "1000000", "--root", str(root))
    assert "warning" not in retried.stderr
    lines = "SELECT quarantine_id, reason, resolved_receipt_id FROM quarantine ORDER BY quarantine_id"
    local = lakehouse("sql", lines, "--root", str(root), "--format", "jsonl").stdout.splitlines()
    assert lake_sql(root, lines) == [json.loads(line) for line in local]  # resolutions and reasons reached it
    assert len(lake_sql(root, open_in_lake)) == 1 and lake_sql(root, open_in_lake)[0]["n"] < held["n"]
    assert all(row["not_in_lake"] == 0 for row in status(root).values())


def test_a_push_leaves_the_marker_of_a_live_writer_and_clears_a_dead_ones(
    tmp_path: Path, lakes: Lakes
) -> None:
    """Another process's commit may not be in the catalog a push read: only its writer, or a push once it
    is gone, clears its marker."""
    root = joined_root(tmp_path, "host", sources(tmp_path), lakes.new())
    lakehouse("materialize", "--root", str(root))
    outbox = root / "data" / "_state" / "lake_outbox"
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        marker = outbox / "writer.json"
        marker.write_text(json.dumps({"what": "replay batch", "tables": ["replay_runs"], "pid": writer.pid}))
        lakehouse("lake", "push", "--root", str(root))
        assert marker.exists()  # the writer is alive: its rows may still be on their way
        assert (
            "1 commit(s) of this root not yet published"
            in lakehouse("lake", "status", "--root", str(root)).stderr
        )
    finally:
        writer.kill()
        writer.wait()
    lakehouse("lake", "push", "--root", str(root))
    assert not list(outbox.glob("*.json"))  # gone: everything it appended was in the logs the push mirrored
