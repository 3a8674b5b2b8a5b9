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
from support import lakehouse_command
from test_read_only import small_filesystem

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


def leave_free(disk: Path, free_bytes: int) -> Path:
    """Fill the filesystem, then give back ``free_bytes``."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - free_bytes))
    finally:
        os.close(fd)
    return filler


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


# Quarantine retry and prune share materialize's lock and its clean-up (journal.exclusive_root).
@pytest.mark.parametrize("command", [["materialize"], ["compact"], ["rebuild"]], ids=lambda c: c[0])
def test_a_run_that_fills_the_disk_leaves_the_root_as_it_was(
    streams: Path, tmp_path: Path, command: list[str]
) -> None:
    clean = tmp_path / "clean"  # the same run on a disk with room
    with small_filesystem(tmp_path / "disk", "48m") as disk:
        root = disk / "root"
        for where in (root, clean):
            shutil.copytree(
                streams,
                where / "data" / "_kb",
                ignore=shutil.ignore_patterns("receipts.jsonl", "quarantine.jsonl", "rag_corpus.jsonl"),
            )
        if command[0] != "materialize":  # the commands that rework evidence need some first, in two parts
            for where in (root, clean):
                assert lakehouse("materialize", "--root", str(where)).returncode == 0
                second_part_of_each_day(where / "data" / "_kb")
                assert lakehouse("materialize", "--root", str(where)).returncode == 0
        before = contents(root)
        filler = leave_free(disk, 64 * 1024)
        failed = lakehouse(*command, "--root", str(root))
        assert failed.returncode == 4, failed.stderr
        assert (
            "No space left on device" in failed.stderr.splitlines()[-1] and "Traceback" not in failed.stderr
        )
        assert not [p for p in root.rglob("*.tmp")], "temporaries left behind"
        assert contents(root) == before  # byte for byte, the catalog included
        filler.unlink()
        done = lakehouse(*command, "--root", str(root))
        assert done.returncode == 0, done.stderr
        assert lakehouse(*command, "--root", str(clean)).returncode == 0
        assert evidence(root) == evidence(clean)  # as a clean run would have written it
