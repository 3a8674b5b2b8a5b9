"""The lake's catalog under many publishers: commits/s against the number of publisher processes.

The base of issue 32's plan for 1,000 hosts. Real servers on loopback, as the tests start them
(tests/lake_servers.py): a PostgreSQL cluster from the Debian binaries and moto's S3 server. Each
publisher is a process of its own with one lake session (attached once, as a long-running publisher
would keep it), committing small appends (a row of ``lake_pushes``, what every push records) as fast
as it can for --seconds, in two ways:

  turn     as `lakehouse lake push` commits today: each transaction first updates the one row of
           ``lake_lock`` (transact.in_turn: a conflict is retried after a pause, up to 20 times);
  append   the same append without the turn: DuckLake's own optimistic concurrency alone.

Then a replay's latency as a user sees it (`lakehouse replay TASK --dry-run`, whole CLI process, median of
--replays runs, alternated): in a local root, in a joined root publishing its run itself, and in a joined
root whose `lakehouse lake publisher` runs (the replay hands its run over and returns).

    python bench/lake_commits.py [--publishers 1,2,4,8,16,32] [--seconds 10] [--replays 10] [--json]

On this 2-core machine the publishers, PostgreSQL and the S3 server share two cores: the figures say what
one loopback catalog sustains here, not what a PostgreSQL on its own host would.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import duckdb
from common import lakehouse_cmd, machine
from lake import AWS, join, servers

from lakehouse import lake
from lakehouse.core.errors import CatalogError
from lakehouse.core.paths import open_root
from lakehouse.lake import publish, transact

STARTUP_S = 2.0  # every publisher waits for the same start, after its session is open


def publisher(root: Path, mode: str, start_at: float, seconds: float) -> None:
    """One publisher: commit appends from ``start_at`` for ``seconds``; print what happened as JSON."""
    layout = open_root(root)
    config = lake.require(layout)
    commits, conflicts, gave_up, latencies = 0, 0, 0, []
    with publish.session(layout, config) as con:
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        while time.time() < deadline:
            began = time.perf_counter()
            if mode == "turn":
                try:
                    _, retries = transact.in_turn(con, "commit", lambda: _append(con))
                except CatalogError:  # 20 conflicts in a row: the push gives up
                    gave_up += 1
                    conflicts += transact.CONFLICT_RETRIES
                    continue
                conflicts += retries
            else:
                try:
                    con.execute("BEGIN")
                    _append(con)
                    con.execute("COMMIT")
                except duckdb.TransactionException:
                    transact.rollback(con)
                    conflicts += 1
                    continue
            commits += 1
            latencies.append((time.perf_counter() - began) * 1000)
    print(
        json.dumps(
            {"commits": commits, "conflicts": conflicts, "gave_up": gave_up, "latencies_ms": latencies}
        )
    )


def _append(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "INSERT INTO lake.lake_pushes (host, pushed_at, rows) VALUES (?, now(), 1)", [f"bench:{os.getpid()}"]
    )


def measure(root: Path, mode: str, count: int, seconds: float) -> dict:
    start_at = time.time() + STARTUP_S + 0.25 * count  # time for every process to attach first
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--publisher",
                str(root),
                "--mode",
                mode,
                "--start-at",
                str(start_at),
                "--seconds",
                str(seconds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [p.communicate() for p in procs]
    failed = [
        err.strip().splitlines()[-1]
        for (out, err), p in zip(outputs, procs, strict=True)
        if p.returncode != 0
    ]
    results = [json.loads(out) for (out, _), p in zip(outputs, procs, strict=True) if p.returncode == 0]
    latencies = sorted(ms for r in results for ms in r["latencies_ms"])
    commits = sum(r["commits"] for r in results)
    return {
        "mode": mode,
        "publishers": count,
        "commits": commits,
        "commits_per_s": round(commits / seconds, 1),
        "conflicts": sum(r["conflicts"] for r in results),
        "gave_up": sum(r["gave_up"] for r in results),
        "commit_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "commit_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "failed_processes": failed,
    }


def replay_latency(work: Path, postgres, s3, runs: int) -> dict:
    roots = {name: work / name for name in ("local", "joined", "handed_off")}
    for name, root in roots.items():
        subprocess.run(
            lakehouse_cmd("demo", "--root", str(root), "--lines", "200"), check=True, capture_output=True
        )
        if name != "local":
            join(root, postgres, s3, f"replays_{name}")
            subprocess.run(
                lakehouse_cmd("lake", "push", "--root", str(root)), check=True, capture_output=True
            )
    daemon = subprocess.Popen(
        lakehouse_cmd("lake", "publisher", "--root", str(roots["handed_off"]), "--interval", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    took: dict[str, list[float]] = {name: [] for name in roots}
    try:
        time.sleep(2)  # the publisher holds its lock
        for i in range(runs):
            for name, root in roots.items():
                publisher_wait(roots["handed_off"])  # its last push done: no replay timed against it
                task = lakehouse_cmd(
                    "replay", f"rotate the certificates of service {i}", "--dry-run", "--root", str(root)
                )
                began = time.perf_counter()
                subprocess.run(task, check=True, capture_output=True)
                took[name].append((time.perf_counter() - began) * 1000)
        published = publisher_wait(roots["handed_off"])  # the last run handed over: its time to the lake
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    return {f"replay_{name}_p50_ms": round(statistics.median(ms), 1) for name, ms in took.items()} | {
        "replays": runs,
        "handed_off_published_within_s": published,
    }


def publisher_wait(root: Path, timeout_s: float = 30.0) -> float | None:
    """Seconds until the publisher has sent every handed-over run (None: not within the timeout)."""
    start = time.perf_counter()
    outbox_dir = root / "data" / "_state" / "lake_outbox"
    while list(outbox_dir.glob("*.json")):
        if time.perf_counter() - start > timeout_s:
            return None
        time.sleep(0.05)
    return round(time.perf_counter() - start, 2)


def run(counts: list[int], seconds: float, replays: int) -> dict:
    os.environ.update(AWS)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lh-lake-commits-") as tmp:
        work = Path(tmp)
        postgres, s3 = servers(work)
        try:
            root = work / "host"
            root.mkdir()
            subprocess.run(
                lakehouse_cmd("demo", "--root", str(root), "--lines", "200"), check=True, capture_output=True
            )
            join(root, postgres, s3, "commits")
            subprocess.run(
                lakehouse_cmd("lake", "push", "--root", str(root)), check=True, capture_output=True
            )
            latency = replay_latency(work, postgres, s3, replays) if replays else {}
            for count in counts:
                for mode in ("turn", "append"):
                    rows.append(measure(root, mode, count, seconds))
                    print(
                        f"  {mode:6s} {count:3d} publishers: {rows[-1]['commits_per_s']}/s", file=sys.stderr
                    )
        finally:
            s3.stop()
            postgres.remove()
    return {"machine": machine(), "seconds": seconds, "rows": rows, **latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishers", default="1,2,4,8,16,32", help="publisher counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--replays", type=int, default=10, help="replays timed in each kind of root (0: none)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--publisher", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("turn", "append"), help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publisher:
        publisher(args.publisher, args.mode, args.start_at, args.seconds)
        return
    counts = [int(c) for c in args.publishers.split(",")]
    print(json.dumps(run(counts, args.seconds, args.replays), indent=None if args.json else 2))


if __name__ == "__main__":
    main()
