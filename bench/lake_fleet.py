"""The lake under a fleet: 16 hosts replaying and materializing continuously into one lake, against the
design before issue 32 (each writer publishes in the lakehouse turn before it returns) and against the
same work with no lake at all.

Real servers on loopback, as the tests start them (tests/lake_servers.py). Each host is a root of its own
with one worker process: for --seconds it replays dry-run tasks one by one (each run mirrored, and
published or handed over, as `lakehouse replay` does) and every 5 replays appends 20 incident lines and
materializes them. The ways asked for (--ways), one after the other, each on a new lake:

  local      no lake: the work alone (the baseline of the work's rate and of a replay's latency);
  before     the lakehouse of --before (default: the commit before issue 32's publishing, kept runnable
             here as a git tree) joined to a lake: each writer publishes before it returns;
  fleet      this tree joined to a lake, with a `lakehouse lake publisher` per host (--interval s);
             fleet@REV: the same on another revision's tree (a before/after pair); fleet:nice=N and
             fleet@REV:nice=N run the publishers at --nice N (the tree's default otherwise).

Reported per way: replays and lines done, rows/s published (lake rows at the end of the window over
its length), commits/s (lake snapshots), conflicts retried, lag p50/p95 from
a run's local commit to an analyst polling the lake (every 0.25 s) first seeing it, replay latency p50/p95; then, for the fleet, the lake's data
files and objects before and after `lakehouse lake maintain`.

    python bench/lake_fleet.py [--hosts 16] [--seconds 60] [--before 176132d] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BEFORE = "176132d"  # the last commit whose writers publish in the one turn of the fleet
BATCH = 5  # replays between two materializes
LINES = 20  # lines a materialize adds


def worker(root: Path, start_at: float, seconds: float) -> None:
    """One host's work until the window closes; prints what it did as JSON (imports the tree on sys.path)."""
    from lakehouse import pipeline, replay
    from lakehouse.core.paths import open_root
    from lakehouse.lake import publish

    retries = [0]
    in_turn = publish.in_turn

    def counted(*args, **kwargs):  # a push's conflicts retried, in either tree (measurement only)
        result, attempt = in_turn(*args, **kwargs)
        retries[0] += attempt
        return result, attempt

    publish.in_turn = counted

    layout = open_root(root)
    incidents = layout.kb / "incidents.jsonl"
    commits, latencies, lines, warnings = [], [], 0, 0
    time.sleep(max(0.0, start_at - time.time()))
    deadline, n = start_at + seconds, 0
    while time.time() < deadline:
        began = time.perf_counter()
        result = replay.run(
            replay.ReplayRequest(f"{root.name}: rotate certificate {n}", dry_run=True), layout
        )
        warnings += pipeline.mirror_runs(layout) is not None
        latencies.append((time.perf_counter() - began) * 1000)
        commits.append((result["recorded_run_id"], time.time()))
        n += 1
        if n % BATCH == 0:
            with incidents.open("a") as log:
                for i in range(LINES):
                    line = {
                        "incident_id": f"{root.name}-{n}-{i}",
                        "ts": "2026-11-30T10:00:00Z",
                        "summary": "x",
                    }
                    log.write(json.dumps(line) + "\n")
            pipeline.materialize(layout)
            lines += LINES
    print(json.dumps({"commits": commits, "latencies_ms": latencies, "lines": lines, "warnings": warnings,
                      "conflicts_retried": retries[0], "cpu_s": time.process_time()}))  # fmt: skip


def _tree(rev: str, base: Path) -> Path:
    """The lakehouse of ``rev`` as a directory to put on PYTHONPATH (its sql/ beside its package)."""
    tree = base / f"tree-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _env(tree: Path) -> dict[str, str]:
    from lake import AWS

    return {**os.environ, **AWS, "PYTHONPATH": str(tree)}


# Every child runs in its tree: `python -m` puts the working directory first on sys.path, so a child
# started from the repository would import the repository's lakehouse whatever PYTHONPATH says.


def _cli(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse", *args], env=_env(tree), cwd=tree, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"lakehouse {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done


def _hosts(base: Path, tree: Path, count: int, streams: Path) -> list[Path]:
    roots = []
    for h in range(count):
        root = base / f"host{h}"
        shutil.copytree(streams, root / "data" / "_kb")
        roots.append(root)
    return roots


def _lake_counts(tree: Path, root: Path) -> dict[str, int]:
    sql = ("SELECT (SELECT count(*) FROM evidence) + (SELECT count(*) FROM replay_runs) + "
           "(SELECT count(*) FROM receipts) AS rows, (SELECT count(*) FROM lake.snapshots()) AS snapshots")  # fmt: skip
    done = _cli(tree, "sql", "--lake", sql, "--root", str(root), "--format", "jsonl")
    return json.loads(done.stdout)


class Observer(threading.Thread):
    """An analyst polling the lake's replay runs every ``every`` seconds: when each run was first seen."""

    def __init__(self, root: Path, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root, self.every, self.first_seen, self.stop = root, every, {}, threading.Event()

    def run(self) -> None:
        import duckdb

        from lakehouse import lake
        from lakehouse.core.paths import open_root

        con = duckdb.connect()
        lake.attach(con, lake.require(open_root(self.root)), read_only=True)
        while not self.stop.is_set():
            began = time.time()
            for (run_id,) in con.execute("SELECT recorded_run_id FROM lake.replay_runs").fetchall():
                self.first_seen.setdefault(run_id, began)
            self.stop.wait(self.every)
        con.close()


def _cpu_s(pid: int) -> float:
    """A live process's CPU seconds so far (user + system, from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu_s(s3) -> dict[str, float]:
    """CPU seconds so far of the servers (every PostgreSQL process; moto's S3) and of this process (the
    observer's polling): what the lake's side costs the machine beside the hosts' processes."""
    postgres = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" (", 1)[1].startswith("postgres"):
                postgres += _cpu_s(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return {"postgres": postgres, "s3": _cpu_s(s3.proc.pid), "observer": time.process_time()}


def _pct(values: list[float], q: float) -> float | None:
    return round(sorted(values)[int(q * (len(values) - 1))], 1) if values else None


def run_way(way: str, tree: Path, base: Path, streams: Path, postgres, s3, hosts: int, seconds: float,
            interval: float) -> dict:  # fmt: skip

    work = base / way.replace("@", "_").replace(":nice=", "_nice")
    roots = _hosts(work, tree, hosts, streams)
    name = f"fleet{way}".replace("@", "x").replace(":nice=", "nice")  # a database and a bucket name
    if way != "local":
        postgres.create_database(name)
        s3.bucket(name)
        for root in roots:
            args = ["--catalog", postgres.dsn(name), "--data", f"s3://{name}/agents/", "--s3-endpoint", s3.url,
                    "--s3-url-style", "path"]  # fmt: skip
            _cli(tree, "lake", "init", "--root", str(root), *args)
    for root in roots:
        _cli(tree, "materialize", "--root", str(root))
    publishers = []
    if way.startswith("fleet"):
        nice = way_parts(way)[1]
        options = ["--interval", str(interval), *(["--nice", nice] if nice else [])]
        publishers = [  # what they say goes to a file: a pipe nobody reads would stop them once full
            subprocess.Popen([sys.executable, "-m", "lakehouse", "lake", "publisher", "--root", str(r),
                              *options], env=_env(tree), cwd=tree,
                             stdout=subprocess.DEVNULL, stderr=(r / "publisher.log").open("w"), text=True)
            for r in roots
        ]  # fmt: skip
    before = _lake_counts(tree, roots[0]) if way != "local" else {}
    observer = Observer(roots[0]) if way != "local" else None
    if observer:
        observer.start()
    start_at = time.time() + 3 + 0.3 * hosts
    servers_at_start = None
    procs = [
        subprocess.Popen([sys.executable, __file__, "--worker", str(r), "--start-at", str(start_at),
                          "--seconds", str(seconds)], env=_env(tree), cwd=tree, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for r in roots
    ]  # fmt: skip
    if way != "local":
        time.sleep(max(0.0, start_at - time.time()))
        servers_at_start = _server_cpu_s(s3)
        servers_at_start["publishers"] = sum(_cpu_s(proc.pid) for proc in publishers)
    outputs = [p.communicate() for p in procs]
    window_end = time.time()
    servers_at_end = _server_cpu_s(s3) if servers_at_start else None
    if servers_at_end:
        servers_at_end["publishers"] = sum(_cpu_s(proc.pid) for proc in publishers)
    failed = [
        err.strip().splitlines()[-1:] for (_, err), p in zip(outputs, procs, strict=True) if p.returncode
    ]
    results = [json.loads(out) for (out, _), p in zip(outputs, procs, strict=True) if p.returncode == 0]
    report: dict = {
        "way": way,
        "hosts": hosts,
        "seconds": seconds,
        "replays": sum(len(r["commits"]) for r in results),
        "lines": sum(r["lines"] for r in results),
        "replay_p50_ms": _pct([ms for r in results for ms in r["latencies_ms"]], 0.5),
        "replay_p95_ms": _pct([ms for r in results for ms in r["latencies_ms"]], 0.95),
        "warnings": sum(r["warnings"] for r in results),
        "failed_workers": failed,
    }
    report["replays_per_s"] = round(report["replays"] / seconds, 1)
    report["worker_cpu_s"] = round(sum(r["cpu_s"] for r in results), 1)
    if way == "local":
        return report
    at_end = _lake_counts(tree, roots[0])  # published within the window (and the moments after)
    report["window_s"] = round(window_end - start_at, 1)
    report["rows_published"] = at_end["rows"] - before["rows"]
    report["rows_per_s"] = round(report["rows_published"] / (window_end - start_at), 1)
    report["commits_per_s"] = round((at_end["snapshots"] - before["snapshots"]) / (window_end - start_at), 1)
    report["worker_cpu_s"] = round(sum(r["cpu_s"] for r in results), 1)
    report["publisher_cpu_s"] = round(sum(_cpu_s(proc.pid) for proc in publishers), 1)
    for what, seconds_then in servers_at_start.items():  # in the window only
        report[f"{what}_cpu_s"] = round(servers_at_end[what] - seconds_then, 1)
    for proc in publishers:  # drain, then the lag of every run
        proc.send_signal(signal.SIGTERM)
    report["publishers_gave_up"] = sum(proc.wait(timeout=300) != 0 for proc in publishers)
    states = (
        [json.loads((r / "data" / "_state" / "lake_publisher.json").read_text()) for r in roots]
        if publishers
        else []
    )
    report["conflicts_retried"] = sum(r["conflicts_retried"] for r in results) + sum(
        st.get("conflicts_retried", 0) for st in states
    )
    report["pushes"] = sum(st["pushes"] for st in states) if states else None
    said = (
        [line for r in roots for line in (r / "publisher.log").read_text().splitlines()] if publishers else []
    )
    report["publisher_lines"] = len(said)
    report["publisher_last_lines"] = said[-12:]
    drained = time.time() + 60
    commits = [(run, t) for r in results for run, t in r["commits"]]
    while time.time() < drained and any(run not in observer.first_seen for run, _ in commits):
        time.sleep(0.5)
    observer.stop.set()
    observer.join()
    visible = observer.first_seen
    drained_counts = _lake_counts(tree, roots[0])
    last_seen = max((visible[run] for run, _ in commits if run in visible), default=window_end)
    report["rows_published_all"] = drained_counts["rows"] - before["rows"]
    report["rows_per_s_all"] = round(report["rows_published_all"] / (last_seen - start_at), 1)
    lags = [visible[run] - t for run, t in commits if run in visible]
    report["runs_not_in_lake"] = sum(run not in visible for run, _ in commits)
    report["lag_p50_s"], report["lag_p95_s"] = _pct(lags, 0.5), _pct(lags, 0.95)
    if way.startswith("fleet"):
        report["objects_before_maintain"] = len(s3.keys(name))
        done = _cli(tree, "lake", "maintain", "--json", "--keep-snapshots", "0", "--file-grace", "0",
                    "--root", str(roots[0]))  # fmt: skip
        maintained = json.loads(done.stdout)
        report["files_before_maintain"] = maintained["files_before"]
        report["files_after_maintain"] = maintained["files_after"]
        report["hidden_rows_deleted"] = maintained["hidden_rows_deleted"]
        report["objects_after_maintain"] = len(s3.keys(name))
        # maintenance expires and deletes before it merges: what it merged away goes at the next one
        _cli(tree, "lake", "maintain", "--keep-snapshots", "0", "--file-grace", "0", "--root", str(roots[0]))
        report["objects_after_second_maintain"] = len(s3.keys(name))
    return report


def way_parts(way: str) -> tuple[str, str | None]:
    """A way's tree (local, before, fleet, fleet@REV) and its publishers' --nice (None: the tree's default);
    SystemExit for a way this benchmark does not run (checked before any server starts)."""
    tree, _, option = way.partition(":")
    known = tree in ("local", "before", "fleet") or tree.startswith("fleet@")
    nice = re.fullmatch(r"nice=(\d+)", option)
    if not known or (option and not (tree.startswith("fleet") and nice)):
        raise SystemExit(f"unknown way {way!r}: local, before, fleet or fleet@REV, a fleet way with :nice=N")
    return tree, nice.group(1) if nice else None


def run(hosts: int, seconds: float, before_rev: str, interval: float, ways: list[str]) -> dict:
    from common import machine
    from lake import AWS, servers

    os.environ.update(AWS)  # the observer reads the lake from this process

    with tempfile.TemporaryDirectory(prefix="lh-fleet-") as tmp:
        base = Path(tmp)
        postgres, s3 = servers(base)
        try:
            trees = {"local": REPO, "fleet": REPO, "before": _tree(before_rev, base)}
            for way in ways:  # fleet@REV: the fleet way on another revision's tree (a before/after pair)
                tree = way_parts(way)[0]
                if tree.startswith("fleet@") and tree not in trees:
                    trees[tree] = _tree(tree.removeprefix("fleet@"), base)
            demo = base / "demo"
            _cli(REPO, "demo", "--root", str(demo), "--lines", "200")
            streams = base / "streams"
            shutil.copytree(demo / "data" / "_kb", streams)
            for output in ("receipts.jsonl", "quarantine.jsonl", "rag_corpus.jsonl"):
                (streams / output).unlink(missing_ok=True)
            results = [
                run_way(w, trees[way_parts(w)[0]], base, streams, postgres, s3, hosts, seconds, interval)
                for w in ways
            ]
        finally:
            s3.stop()
            postgres.remove()
    by_way = {r["way"]: r for r in results}
    summary: dict = {"machine": machine(), "hosts": hosts, "seconds": seconds, "before": before_rev,
                     "interval_s": interval, "ways": by_way}  # fmt: skip
    if {"before", "fleet"} <= by_way.keys():
        summary["rows_per_s_ratio"] = round(
            by_way["fleet"]["rows_per_s"] / max(by_way["before"]["rows_per_s"], 0.1), 1
        )
    if {"local", "fleet"} <= by_way.keys():
        summary["work_local_vs_fleet"] = round(
            by_way["local"]["replays"] / max(by_way["fleet"]["replays"], 1), 2
        )
        summary["replay_p50_fleet_minus_local_ms"] = round(
            by_way["fleet"]["replay_p50_ms"] - by_way["local"]["replay_p50_ms"], 1
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--before", default=BEFORE, help="The git revision of the design compared against.")
    parser.add_argument("--interval", type=float, default=2.0, help="The fleet's publishers' interval.")
    parser.add_argument(
        "--ways",
        default="local,before,fleet",
        help="Any of local, before, fleet, fleet@REV (another tree's) and fleet:nice=N.",
    )
    parser.add_argument("--worker", type=Path)
    parser.add_argument("--start-at", type=float)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.start_at, args.seconds)
        return
    for way in args.ways.split(","):
        way_parts(way)  # every way known before any server starts
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(REPO / "tests"))
    summary = run(args.hosts, args.seconds, args.before, args.interval, args.ways.split(","))
    print(json.dumps(summary, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
