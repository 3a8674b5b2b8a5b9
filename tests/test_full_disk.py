"""Bad days (issue 28): a run that fails on a full disk (a real ENOSPC from a small tmpfs) leaves the root as
it was — no temporary, the same files byte for byte, the same catalog rows — and once space is freed the
same command completes exactly as a clean run would."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lake_servers import Postgres
from support import lakehouse_command
from test_read_only import leave_free, small_filesystem

pytestmark = pytest.mark.slow
LOCK = os.path.join("data", "_state", "materialize.lock")  # records the last holder's pid: not evidence


def lakehouse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*lakehouse_command(), *args], capture_output=True, text=True, timeout=300)


def contents(root: Path) -> dict[str, str]:
    """Every file under the root and the sha256 of its bytes (the lock file aside)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)) != LOCK
    }


def evidence(root: Path) -> list[tuple[str, str]]:
    """(day, evidence line without its receipt id) of every evidence record, sorted."""
    found = []
    for path in (root / "data" / "evidence" / "jsonl").rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            record.pop("receipt_id")
            found.append((record["day"], json.dumps(record, sort_keys=True)))
    return sorted(found)


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("full-disk") / "demo"
    done = lakehouse("demo", "--root", str(root), "--lines", "3000")
    assert done.returncode == 0, done.stderr
    return root / "data" / "_kb"


def second_part_of_each_day(kb: Path) -> None:
    """New model calls on the days the streams already cover: each of those days gets a second part."""
    calls = kb / "model_calls.jsonl"
    more = [json.loads(line) for line in calls.read_text().splitlines() if line.strip().endswith("}")]
    with calls.open("a") as handle:
        for call in more:
            if isinstance(call, dict) and "call_id" in call:
                handle.write(json.dumps({**call, "call_id": f"{call['call_id']}-again"}) + "\n")


# A transform that reads the demo's quarantined tool call ("ok": "yes"), so that a retry has evidence to write.
LENIENT_TOOL_CALLS = """/* tool_calls → tool_call, reading "ok" written as a word too. */
-- stream: tool_calls
-- kind: tool_call
-- key: call_id
-- fields: call_id string, args object, error text
-- moved: run_id string, task_id string, model string, tool string, ok string, duration_ms number
SELECT line_no, run_id, task_id, model, tool AS text, lower(ok) IN ('true', 'yes') AS passed,
       lh_ms(duration_ms) AS duration_ms
FROM source
"""


# Prune only deletes once its journal is written, and a retry writes little: both are given no byte at all.
@pytest.mark.parametrize(
    ("command", "free"),
    [
        (["materialize"], 65536),
        (["compact"], 65536),
        (["rebuild"], 65536),
        (["prune", "--yes"], 0),
        (["quarantine", "retry", "--transforms", "{lenient}"], 0),
    ],
    ids=lambda c: "-".join(c[:2]) if isinstance(c, list) else str(c),
)
def test_a_run_that_fills_the_disk_leaves_the_root_as_it_was(
    streams: Path, tmp_path: Path, command: list[str], free: int
) -> None:
    clean = tmp_path / "clean"  # the same run on a disk with room
    lenient = tmp_path / "transforms"
    lenient.mkdir()
    (lenient / "08_tool_calls.sql").write_text(LENIENT_TOOL_CALLS)
    command = [arg.replace("{lenient}", str(lenient)) for arg in command]
    with small_filesystem(tmp_path / "disk", "48m") as disk:
        root = disk / "root"
        for where in (root, clean):
            shutil.copytree(
                streams,
                where / "data" / "_kb",
                ignore=shutil.ignore_patterns("receipts.jsonl", "quarantine.jsonl", "rag_corpus.jsonl"),
            )
        if (
            command[0] != "materialize"
        ):  # the commands that rework evidence (or lines) need some first, in two parts
            for where in (root, clean):
                assert lakehouse("materialize", "--root", str(where)).returncode == 0
                second_part_of_each_day(where / "data" / "_kb")
                assert lakehouse("materialize", "--root", str(where)).returncode == 0
        if command[0] == "prune":  # a third of the days
            days = sorted(
                p.name.removeprefix("day=") for p in (root / "data" / "evidence" / "parquet").glob("day=*")
            )
            command = [*command, "--before", days[len(days) // 3]]
        before = contents(root)
        filler = leave_free(disk, free)
        failed = lakehouse(*command, "--root", str(root))
        assert failed.returncode == 4, failed.stderr
        said = failed.stderr.splitlines()[-1]
        assert "No space left on device" in said and "Traceback" not in failed.stderr
        if command[0] in ("materialize", "compact", "rebuild"):  # what it was writing, and how much
            assert "evidence records" in said and "MiB" in said, said
        assert not [p for p in root.rglob("*.tmp")], "temporaries left behind"
        assert contents(root) == before  # byte for byte, the catalog included
        filler.unlink()
        done = lakehouse(*command, "--root", str(root))
        assert done.returncode == 0, done.stderr
        assert lakehouse(*command, "--root", str(clean)).returncode == 0
        assert evidence(root) == evidence(clean)  # as a clean run would have written it


def test_a_lake_push_that_fills_the_lake_s_disk_leaves_no_part_behind(
    streams: Path, tmp_path: Path, postgres: Postgres
) -> None:
    root = tmp_path / "root"
    shutil.copytree(
        streams, root / "data" / "_kb", ignore=shutil.ignore_patterns("receipts.jsonl", "quarantine.jsonl")
    )
    assert lakehouse("materialize", "--root", str(root)).returncode == 0
    name = f"fulldisk{os.getpid()}"
    postgres.create_database(name)
    with small_filesystem(tmp_path / "disk", "16m") as disk:
        joined = lakehouse(
            "lake", "init", "--root", str(root), "--catalog", postgres.dsn(name), "--data", f"{disk}/lake/"
        )
        assert joined.returncode == 0, joined.stderr
        filler = leave_free(disk, 0)
        failed = lakehouse("lake", "push", "--root", str(root))
        assert failed.returncode == 4, failed.stderr
        assert "No space left on device" in failed.stderr and "Traceback" not in failed.stderr
        assert not list(disk.rglob("*.tmp")), "a temporary part left on the lake's disk"
        filler.unlink()
        pushed = lakehouse("lake", "push", "--root", str(root))
        assert pushed.returncode == 0, pushed.stderr
        status = lakehouse("lake", "status", "--root", str(root), "--json")
        rows = [json.loads(line) for line in status.stdout.splitlines()]
        assert rows and all(r["in_lake"] == r["local"] for r in rows), rows
