"""The lake: publishing the materialize benchmark's lines against writing them locally, and four hosts
replaying into one lake at once.

Real servers on loopback, as the tests start them (tests/lake_servers.py): a PostgreSQL cluster from the
Debian binaries and moto's S3 server. Baseline of the same run: `lakehouse materialize` of the same
lines into a root that has not joined a lake.

    python bench/lake.py [--lines 1000000] [--runs 20] [--json]
    python bench/lake.py --fleet [--hosts 16] [--seconds 60] [--json]   (bench/lake_fleet.py: 16 hosts)
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from common import lakehouse_cmd, machine

from lakehouse import lake, pipeline, replay
from lakehouse.core.paths import open_root
from lakehouse.demo import synth

AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
HOSTS = 4


def servers(base: Path):
    try:
        from lake_servers import Postgres, S3Server

        return Postgres(base), S3Server()
    except BaseException as exc:  # pytest's skip outside pytest: the reason is its message
        print(f"lake benchmark: needs PostgreSQL's binaries and moto's server ({exc})", file=sys.stderr)
        sys.exit(3)


def join(root: Path, postgres, s3, name: str) -> None:
    postgres.create_database(name)
    s3.bucket(name)
    args = ["--catalog", postgres.dsn(name), "--data", f"s3://{name}/agents/", "--s3-endpoint", s3.url]
    init = lakehouse_cmd("lake", "init", "--root", str(root), *args, "--s3-url-style", "path")
    subprocess.run(init, check=True, capture_output=True)


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def worker(root: Path, runs: int) -> None:
    """One host: replay ``runs`` tasks one by one, each published as it is recorded; print latencies."""
    layout = open_root(root)
    publish_ms = []
    start = time.perf_counter()
    for i in range(runs):
        replay.run(
            replay.ReplayRequest(f"fix the flaky test number {i} on {root.name}", dry_run=True), layout
        )
        began = time.perf_counter()
        warning = pipeline.mirror_runs(layout)
        publish_ms.append((time.perf_counter() - began) * 1000)
        if warning:
            raise SystemExit(warning)
    print(json.dumps({"seconds": time.perf_counter() - start, "publish_ms": publish_ms}))


def run(lines: int, runs: int) -> dict:
    os.environ.update(AWS)
    with tempfile.TemporaryDirectory(prefix="lh-lake-") as tmp:
        work = Path(tmp)
        postgres, s3 = servers(work)
        try:
            local, joined = work / "local", work / "joined"
            for root in (local, joined):
                root.mkdir()
                synth.write_streams(
                    open_root(root, create=True).kb, lines, seed=1, end_day="2026-05-02", days=60
                )
            join(joined, postgres, s3, "bulk")
            local_s = timed(lakehouse_cmd("materialize", "--root", str(local)))
            joined_s = timed(
                lakehouse_cmd("materialize", "--root", str(joined))
            )  # publishes after committing
            status = lake.status(open_root(joined), lake.require(open_root(joined)))
            push_again_s = timed(lakehouse_cmd("lake", "push", "--root", str(joined)))
            noop_s = {}
            for _ in range(3):  # alternating: a no-op materialize here and there (its receipt is published)
                for name, root in (("local", local), ("joined", joined)):
                    took = timed(lakehouse_cmd("materialize", "--root", str(root)))
                    noop_s[name] = min(noop_s.get(name, took), took)

            hosts = []
            for h in range(HOSTS):
                root = work / f"host{h}"
                root.mkdir()
                demo = lakehouse_cmd("demo", "--root", str(root), "--lines", "200")
                subprocess.run(demo, check=True, capture_output=True)
                join(root, postgres, s3, "shared") if h == 0 else _join_same(root, work / "host0")
                subprocess.run(
                    lakehouse_cmd("lake", "push", "--root", str(root)), check=True, capture_output=True
                )
                hosts.append(root)
            start = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "--worker", str(r), "--runs", str(runs)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for r in hosts
            ]
            results = [json.loads(p.communicate()[0]) for p in procs]
            concurrent_s = time.perf_counter() - start
            shared = lake.status(open_root(hosts[0]), lake.require(open_root(hosts[0])))
        finally:
            s3.stop()
            postgres.remove()
    latencies = sorted(ms for r in results for ms in r["publish_ms"])
    evidence = next(row for row in status if row["table"] == "evidence")
    return {
        "machine": machine(),
        "lines": lines,
        "evidence": evidence["in_lake"],
        "local_materialize_s": round(local_s, 2),
        "joined_materialize_s": round(joined_s, 2),
        "publish_s": round(joined_s - local_s, 2),
        "ratio_joined_vs_local": round(joined_s / local_s, 2),
        "push_again_s": round(push_again_s, 2),
        "noop_materialize_local_s": round(noop_s["local"], 2),
        "noop_materialize_joined_s": round(noop_s["joined"], 2),
        "hosts": HOSTS,
        "runs_per_host": runs,
        "concurrent_s": round(concurrent_s, 2),
        "runs_per_s": round(HOSTS * runs / concurrent_s, 2),
        "publish_p50_ms": round(statistics.median(latencies), 1),
        "publish_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "shared_runs_in_lake": next(r for r in shared if r["table"] == "replay_runs")["in_lake"],
        "missing_after": sum(r["not_in_lake"] for r in shared),
    }


def _join_same(root: Path, first: Path) -> None:
    """Another host joining the same lake: the same data/lake.json."""
    (root / "data" / "lake.json").write_text((first / "data" / "lake.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--worker", type=Path)
    parser.add_argument("--fleet", action="store_true", help="The fleet run instead (bench/lake_fleet.py).")
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--ways", default="local,before,fleet", help="The fleet run's ways (bench/lake_fleet.py --ways)."
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.runs)
        return
    if args.fleet:
        import lake_fleet

        summary = lake_fleet.run(args.hosts, args.seconds, lake_fleet.BEFORE, 2.0, args.ways.split(","))
        print(json.dumps(summary, indent=None if args.json else 2))
        return
    print(json.dumps(run(args.lines, args.runs), indent=None if args.json else 2))


if __name__ == "__main__":
    main()
