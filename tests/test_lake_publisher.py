"""The publisher a host keeps (`lakehouse lake publisher`): writers hand it their outbox and return; it
publishes within its interval; killed, nothing is lost; stopped, it drains what is pending."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lake_support import AWS, Lakes, demo_root, lakehouse, spawn, status, terminated
from otlp_support import ServeProcess, span, traces

pytestmark = pytest.mark.slow


def outbox(root: Path) -> list[Path]:
    return list((root / "data" / "_state" / "lake_outbox").glob("*.json"))


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def started(root: Path, interval: str = "0.3", *options: str) -> subprocess.Popen[str]:
    proc = spawn("lake", "publisher", "--root", str(root), "--interval", interval, *options)
    wait_until(
        "the publisher holds its lock", lambda: "publisher running" in lake_status_text(root, busy_ok=True)
    )
    return proc


def held(stderr: str) -> bool:
    """A refusal because a writer holds the catalog (after waiting for it as writers wait)."""
    return "is locked by another process" in stderr or "Conflicting lock" in stderr


def lake_status_text(root: Path, *, busy_ok: bool = False) -> str:
    """`lake status`'s messages; with ``busy_ok``, its refusal while a writer holds the catalog (see below)."""
    done = lakehouse("lake", "status", "--root", str(root), check=not busy_ok)
    assert done.returncode == 0 or held(done.stderr), done.stderr
    return done.stderr


def evidence_while_busy(root: Path) -> dict[str, int] | None:
    """`lake status --json`'s evidence row, or None while a writer (the receiver's materialize) holds the
    catalog: the status reads it, and DuckDB lets no other process open a file a writer holds."""
    done = lakehouse("lake", "status", "--root", str(root), "--json", check=False)
    if done.returncode != 0:
        assert held(done.stderr), done.stderr
        return None
    return next(row for row in map(json.loads, done.stdout.splitlines()) if row["table"] == "evidence")


def replay(root: Path, task: str) -> subprocess.CompletedProcess[str]:
    return lakehouse("replay", task, "--dry-run", "--root", str(root))


def test_writers_hand_their_commits_to_a_running_publisher_and_nothing_is_lost(
    tmp_path: Path, lakes: Lakes
) -> None:
    root = tmp_path / "host"
    shutil.copytree(demo_root(tmp_path, "demo", lines=200), root)
    lakehouse("lake", "init", "--root", str(root), *lakes.new())
    lakehouse("lake", "push", "--root", str(root))
    assert not outbox(root)

    proc = started(root)
    try:
        done = [replay(root, f"rotate the certificates of service {i}") for i in range(3)]
        assert all(r.returncode == 0 and "warning" not in r.stderr for r in done)
        wait_until("the publisher sent the three runs", lambda: not outbox(root))
        assert status(root)["replay_runs"]["not_in_lake"] == 0

        proc.send_signal(signal.SIGKILL)  # killed between pushes: what it had not sent waits in the outbox
        proc.communicate(timeout=30)
        assert "publisher running" not in lake_status_text(root)
        replay(root, "a run while no publisher runs")  # publishes itself again, at once
        assert status(root)["replay_runs"]["not_in_lake"] == 0 and not outbox(root)

        proc = started(root, interval="30")  # a long interval: only the stop publishes in time
        replay(root, "a run left to the publisher")
        assert len(outbox(root)) == 1 and status(root)["replay_runs"]["not_in_lake"] == 1
        assert "the publisher sends them" in lake_status_text(root)
        err = terminated(proc)
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert status(root)["replay_runs"]["not_in_lake"] == 0 and not outbox(root)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


WRITER = """
import sys, time
from lakehouse import pipeline, replay
from lakehouse.core.paths import open_root
layout = open_root(sys.argv[1])
replay.run(replay.ReplayRequest("a run of a writer that goes on running", dry_run=True), layout)
assert pipeline.mirror_runs(layout) is None
print("mirrored", flush=True)
time.sleep(120)
"""


def test_a_writer_that_goes_on_running_has_its_mirrored_runs_published_and_cleared(
    tmp_path: Path, lakes: Lakes
) -> None:
    """A long-lived writer (a replay service using the library) hands its runs to the publisher: once it
    has mirrored them, the publisher sends them and clears their marker while the writer still runs,
    instead of pushing again every interval until it exits."""
    root = tmp_path / "host"
    shutil.copytree(demo_root(tmp_path, "demo", lines=200), root)
    lakehouse("lake", "init", "--root", str(root), *lakes.new())
    lakehouse("lake", "push", "--root", str(root))
    proc = started(root)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **AWS},
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "mirrored"
        wait_until("the publisher cleared the running writer's marker", lambda: not outbox(root))
        assert writer.poll() is None  # still running
        assert status(root)["replay_runs"]["not_in_lake"] == 0
        pushes = json.loads((root / "data" / "_state" / "lake_publisher.json").read_text())["pushes"]
        time.sleep(1.5)  # five intervals with nothing owed: no push
        assert json.loads((root / "data" / "_state" / "lake_publisher.json").read_text())["pushes"] == pushes
    finally:
        writer.kill()
        writer.communicate()
        terminated(proc)


def test_a_second_publisher_for_the_same_root_says_one_runs(tmp_path: Path, lakes: Lakes) -> None:
    root = tmp_path / "host"
    shutil.copytree(demo_root(tmp_path, "demo", lines=200), root)
    lakehouse("lake", "init", "--root", str(root), *lakes.new())
    proc = started(root)
    try:
        second = lakehouse("lake", "publisher", "--root", str(root), check=False)
        assert second.returncode != 0 and "a publisher already runs for this root" in second.stderr
        assert second.stderr.count("\n") <= 2 and "Traceback" not in second.stderr
    finally:
        terminated(proc)


def test_the_publisher_needs_a_joined_root(tmp_path: Path) -> None:
    root = demo_root(tmp_path, "demo", lines=200)
    alone = lakehouse("lake", "publisher", "--root", str(root), check=False)
    assert alone.returncode == 2 and "Traceback" not in alone.stderr


def test_the_otlp_receiver_keeps_the_publisher_of_its_joined_root(tmp_path: Path, lakes: Lakes) -> None:
    """A receiver in a joined root publishes on a thread of its own: its background materializes hand
    their commits over; spans reach the lake while it runs, and what is pending goes when it stops."""
    root = tmp_path / "host"
    shutil.copytree(demo_root(tmp_path, "demo", lines=200), root)
    lakehouse("lake", "init", "--root", str(root), *lakes.new())
    lakehouse("lake", "push", "--root", str(root))
    before = status(root)["evidence"]["in_lake"]
    env = {**os.environ, **AWS}
    with ServeProcess(root, "--materialize-every", "0.5", env=env) as serve, httpx.Client() as client:
        wait_until(
            "the receiver's publisher holds its lock",
            lambda: "publisher running" in lake_status_text(root, busy_ok=True),
        )
        spans = [
            span("ab" * 16, f"{i:016x}", f"chat m{i}", {"gen_ai.request.model": f"m{i}"}) for i in range(3)
        ]
        reply = client.post(f"{serve.url}/v1/traces", json=traces(spans), timeout=30)
        assert reply.status_code == 200, reply.text

        def published() -> bool:
            evidence = evidence_while_busy(root)
            return evidence is not None and evidence["in_lake"] >= before + 3 and evidence["not_in_lake"] == 0

        wait_until("the spans are in the lake", published)
        assert serve.stop() == 0
    assert not any("Traceback" in line or line.startswith("warning") for line in serve.lines), serve.lines
    assert not outbox(root) and status(root)["evidence"]["not_in_lake"] == 0


def publisher_of_an_unreachable_lake(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    """A publisher of a demo root whose lake's catalog nobody listens for, once it went round its loop."""
    root = demo_root(tmp_path, "host", lines=100)
    unreachable = {
        "catalog": "postgres:dbname=lake host=127.0.0.1 port=1 user=lake",
        "data": str(tmp_path / "files"),
    }
    (root / "data" / "lake.json").write_text(json.dumps(unreachable))
    proc = spawn("lake", "publisher", "--root", str(root), "--interval", "0.2", *options)
    state = root / "data" / "_state" / "lake_publisher.json"
    wait_until("the publisher went round its loop", state.exists)
    return proc


def test_a_publisher_whose_lake_cannot_be_reached_at_start_says_so_and_keeps_running(tmp_path: Path) -> None:
    """It connects when it starts: a lake that cannot be reached then is one warning line, not its end
    (each push tries again); stopped, it exits cleanly."""
    proc = publisher_of_an_unreachable_lake(tmp_path)
    time.sleep(0.5)
    assert proc.poll() is None  # still running
    err = terminated(proc)
    assert proc.returncode == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings and warnings[0].startswith(
        "warning: the lake cannot be reached yet: cannot reach the lake"
    )
    assert "Traceback" not in err


def thread_nice_values(pid: int) -> dict[int, int]:
    """Each thread's nice value (field 19 of /proc/PID/task/TID/stat): on Linux it is a thread's own."""
    values = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        values[int(stat.parent.name)] = int(fields[16])
    return values


@pytest.mark.parametrize(("option", "lower"), [((), 0), (("--nice", "10"), 10), (("--nice", "3"), 3)])
def test_nice_lowers_every_thread_of_the_publisher(
    tmp_path: Path, option: tuple[str, ...], lower: int
) -> None:
    """--nice N: every thread of the publisher, those running before it lowered itself included (pyarrow's
    allocator starts one at import), runs N nice steps below the process that started it; by default, at
    the same priority. (Threads started later inherit their creator's value: the kernel's doing.)"""
    proc = publisher_of_an_unreachable_lake(tmp_path, *option)
    try:
        values = thread_nice_values(proc.pid)
        assert len(values) >= 2  # threads started before it lowered itself (pyarrow's allocator's) too
        assert set(values.values()) == {min(os.nice(0) + lower, 19)}, values
    finally:
        terminated(proc)
    assert proc.returncode == 0
