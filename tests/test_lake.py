"""The lake: roots (hosts) joined to one DuckLake (PostgreSQL catalog, moto S3) publish exactly once by key,
analysts attach it read-only and read it through the CLI (sql, query, compare, report)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lake_servers import Postgres, S3Server
from lake_support import AWS, Lakes, demo_root, lake_sql, lakehouse, status
from otlp_support import span, traces
from support import lakehouse_command

pytestmark = pytest.mark.slow


@pytest.fixture
def lake_args(lakes: Lakes) -> list[str]:
    return lakes.new()


def test_push_is_idempotent_and_an_analyst_attaches_the_lake_read_only(
    tmp_path: Path, lake_args: list[str], postgres: Postgres, s3: S3Server
) -> None:
    root = demo_root(tmp_path, "host")
    traced = tmp_path / "traces.jsonl"  # OpenTelemetry spans too: the lake has spans and llm_spans
    traced.write_text(
        json.dumps(
            traces(
                [
                    span(
                        "ab" * 16,
                        "cd" * 8,
                        "invoke_agent a",
                        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"},
                    ),
                    span(
                        "ab" * 16,
                        "ef" * 8,
                        "chat m",
                        {
                            "gen_ai.request.model": "m",
                            "gen_ai.usage.input_tokens": 5,
                            "gen_ai.operation.name": "chat",
                        },
                        parent="cd" * 8,
                    ),
                ]
            )
        )
        + "\n"
    )
    lakehouse("otlp", "import", "--root", str(root), str(traced))
    lakehouse("lake", "init", "--root", str(root), *lake_args)
    config = json.loads((root / "data" / "lake.json").read_text())
    assert "password" not in json.dumps(config) and "test" not in json.dumps(config)  # no secret on disk
    first = lakehouse("lake", "push", "--root", str(root)).stderr
    second = lakehouse("lake", "push", "--root", str(root)).stderr
    assert "published 0 evidence, 0 replay_runs, 0 receipts, 0 quarantine" in second
    assert "published 0 evidence" not in first
    local = {t: r["local"] for t, r in status(root).items()}
    assert {t: r["in_lake"] for t, r in status(root).items()} == local
    replay = lakehouse(
        "replay", "rotate the expiring certificates", "--dry-run", "--root", str(root), check=False
    )
    assert replay.returncode in (0, 1) and "warning" not in replay.stderr  # a single replay publishes its run
    local["replay_runs"] += 1
    local["evidence"] = status(root)["evidence"]["local"]
    assert {t: r["in_lake"] for t, r in status(root).items()} == local

    # The lake holds what this root holds: the named queries give the same rows on both.
    for name in (
        "pass_rate_by_day_and_model",
        "token_spend_by_model_and_day",
        "cost_by_model_and_day",
        "slowest_and_failing_traces",
    ):
        named = ["query", name, "--root", str(root), "--format", "jsonl"]
        assert lakehouse(*named, "--lake").stdout == lakehouse(*named).stdout
    calls = lake_sql(root, "SELECT agent, model, input_tokens FROM llm_spans")
    assert calls == [{"agent": "a", "model": "m", "input_tokens": 5}]
    compared = ["compare", "baseline", "candidate", "--root", str(root), "--format", "json"]
    assert json.loads(lakehouse(*compared, "--lake").stdout) == json.loads(lakehouse(*compared).stdout)
    pages = {}
    for where, extra in (("lake", ["--lake"]), ("local", [])):
        out = tmp_path / f"{where}.html"
        lakehouse(
            "report", "--root", str(root), "--output", str(out), "--compare", "baseline", "candidate", *extra
        )
        pages[where] = dict(re.findall(r'data-figure="(\w+)" data-value="([^"]*)"', out.read_text()))
    assert pages["lake"] == pages["local"]  # every headline figure, computed on the lake and on the catalog
    assert pages["lake"]["runs"] == str(local["replay_runs"])
    bucket = config["data"].split("/")[2]
    assert s3.objects(bucket) > 0  # the data files are on the object store
    analyst = textwrap.dedent(
        f"""
        import duckdb, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from lakehouse.core.db import extension_path
        con = duckdb.connect()
        for ext in ("ducklake", "postgres", "httpfs"):
            con.execute(f"INSTALL '{{extension_path(ext).as_posix()}}'"); con.execute(f"LOAD {{ext}}")
        con.execute("CREATE SECRET (TYPE s3, KEY_ID 'test', SECRET 'test', REGION 'us-east-1', "
                    "ENDPOINT '127.0.0.1:{s3.port}', URL_STYLE 'path', USE_SSL false)")
        con.execute("ATTACH 'ducklake:{config["catalog"]}' AS lake (READ_ONLY)")
        tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake' UNION ALL "
                             "SELECT view_name FROM duckdb_views() WHERE database_name = 'lake' ORDER BY 1")
        print(",".join(name for (name,) in tables.fetchall()))
        print(con.execute("SELECT count(*) FROM lake.evidence").fetchone()[0])
        print(con.execute("SELECT count(*) FROM lake.llm_spans").fetchone()[0])
        try:
            con.execute("DELETE FROM lake.evidence")
            print("wrote")
        except duckdb.Error:
            print("read-only")
        """
    )
    done = subprocess.run([sys.executable, "-c", analyst], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names, evidence, model_calls, mode = done.stdout.split()
    assert model_calls == "1"  # the views and their macros are in the lake itself
    assert {"evidence", "replay_runs", "receipts", "quarantine"} <= set(names.split(","))
    assert (evidence, mode) == (str(local["evidence"]), "read-only")


def joined_in_process(tmp_path: Path, lake_args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple:
    """A demo root joined to a new lake, its layout and lake config for this process (S3 keys set)."""
    from lakehouse import lake
    from lakehouse.core.paths import open_root

    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    root = demo_root(tmp_path, "host")
    lakehouse("lake", "init", "--root", str(root), *lake_args)
    layout = open_root(root)
    return layout, lake.require(layout)


def test_pushing_in_process_leaves_the_catalog_free_for_the_next_connection(
    tmp_path: Path, lake_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library user (a long-lived replay session) pushes, then writes the catalog again, and again."""
    from lakehouse import lake
    from lakehouse.core import db

    layout, config = joined_in_process(tmp_path, lake_args, monkeypatch)
    for _ in range(2):
        lake.push(layout, config)
        with db.catalog(layout.catalog) as con:  # a write connection: fails if the push left it attached
            assert con.execute("SELECT count(*) FROM replay_runs").fetchone()[0] > 0


def test_a_kept_lake_that_cannot_detach_the_catalog_is_dropped_not_left_holding_it(
    tmp_path: Path, lake_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher's kept connection whose catalog will not detach (here: a transaction left with work on
    it) is closed, so the root's writers get the catalog; the next push makes a new one."""
    from lakehouse import lake
    from lakehouse.core import db
    from lakehouse.lake import publish

    layout, config = joined_in_process(tmp_path, lake_args, monkeypatch)
    kept = publish.KeptLake(config)
    lake.push(layout, config, kept=kept)
    first = kept.con
    assert first is not None  # kept between pushes
    with publish.session(layout, config, kept=kept) as con:
        con.execute("BEGIN")
        con.execute("SELECT count(*) FROM replay_runs").fetchone()  # outstanding work: DETACH refuses
    assert kept.con is None
    with db.catalog(layout.catalog) as con:  # a write connection: fails if the catalog were still attached
        assert con.execute("SELECT count(*) FROM replay_runs").fetchone()[0] > 0
    lake.push(layout, config, kept=kept)
    assert kept.con is not None and kept.con is not first
    kept.close()


def test_a_kept_lake_survives_a_catalog_held_too_long_by_a_writer(
    tmp_path: Path, lake_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push that cannot attach the root's catalog (another process writes it past the wait) fails
    with a plain error and leaves the publisher's kept lake connection as it was, for the next push."""
    from lakehouse import lake
    from lakehouse.core.errors import CatalogError
    from lakehouse.lake import publish

    layout, config = joined_in_process(tmp_path, lake_args, monkeypatch)
    kept = publish.KeptLake(config)
    lake.push(layout, config, kept=kept)
    first = kept.con
    hold = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(8)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", hold, str(layout.catalog)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            with pytest.raises(CatalogError, match="is locked by another process"):
                lake.push(layout, config, kept=kept)
            assert kept.con is first  # not dropped: nothing of the catalog was attached to it
        finally:
            holder.kill()
    lake.push(layout, config, kept=kept)
    assert kept.con is first
    kept.close()


def test_lake_commands_without_a_lake_say_how_to_join(tmp_path: Path) -> None:
    root = demo_root(tmp_path, "alone")
    for args in (["lake", "status"], ["lake", "push"], ["sql", "--lake", "SELECT 1"]):
        done = lakehouse(*args, "--root", str(root), check=False)
        assert done.returncode == 2, args
        assert "has not joined a lake: run 'lakehouse lake init'" in done.stderr
    bad = lakehouse("lake", "init", "--root", str(root), "--catalog", "postgres:dbname=x password=hunter2",
                    "--data", "s3://b/", check=False)  # fmt: skip
    assert bad.returncode == 2 and "must not hold a password" in bad.stderr
    assert not (root / "data" / "lake.json").exists()


def test_a_query_the_object_store_refuses_or_fails_is_an_infrastructure_error(
    tmp_path: Path, lake_args: list[str]
) -> None:
    """Reading the lake's files without keys: the object store answers 403, which no corrected statement
    gets past (exit 4, not a usage error), and the one line says where the keys are read from; a server
    that cannot be reached is exit 4 too. A URL that does not exist (404) and a typo stay the user's (2)."""
    root = demo_root(tmp_path, "host")
    lakehouse("lake", "init", "--root", str(root), *lake_args)
    lakehouse("lake", "push", "--root", str(root))
    lakehouse("lake", "maintain", "--root", str(root))  # rows kept inline in PostgreSQL flushed to files
    query = ["sql", "--lake", "SELECT sum(length(input_task)) FROM replay_runs", "--root", str(root)]
    assert lakehouse(*query).returncode == 0
    keyless = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    keyless.update(  # nothing for the AWS credential chain to find: no ~/.aws, no instance metadata
        AWS_REGION="us-east-1", HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true"
    )
    done = subprocess.run(
        [*lakehouse_command(), *query], capture_output=True, text=True, env=keyless, timeout=120
    )
    assert done.returncode == 4, done.stderr
    assert "HTTP 403" in done.stderr and "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    endpoint = lake_args[lake_args.index("--s3-endpoint") + 1]
    for sql, code in (
        ("FROM 'http://127.0.0.1:1/agents/x.parquet'", 4),  # nothing listens there
        (f"FROM '{endpoint}/no-such-bucket/x.parquet'", 2),  # 404: the statement names what is not there
        ("SELECT nosuch FROM replay_runs", 2),
    ):
        failed = lakehouse("sql", "--lake", sql, "--root", str(root), check=False)
        assert failed.returncode == code, (sql, failed.stderr)
        assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr


def test_the_commits_benchmark_measures_both_ways_of_committing() -> None:
    """bench/lake_commits.py (the base of the fleet plan) runs: both modes commit, no publisher fails, and
    a replay is timed in each kind of root, the handed-over one reaching the lake (one replay each: its
    default ten time the CLI, which this test does not judge)."""
    bench = Path(__file__).resolve().parent.parent / "bench" / "lake_commits.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--publishers", "2", "--seconds", "1", "--replays", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode == 3:  # the benchmark's own servers are missing: as the lake fixtures say
        from lake_servers import unavailable

        unavailable(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = result["rows"]
    assert sorted(row["mode"] for row in rows) == ["append", "turn"]
    assert all(row["publishers"] == 2 and row["commits"] > 0 and not row["failed_processes"] for row in rows)
    assert result["replays"] == 1 and result["handed_off_published_within_s"] is not None
    assert all(result[f"replay_{name}_p50_ms"] > 0 for name in ("local", "joined", "handed_off"))


def test_the_fleet_benchmark_runs_its_ways_and_loses_no_run() -> None:
    """bench/lake_fleet.py (BENCHMARKS.md's fleet figures) runs, a fleet way at --nice included: every
    run reaches the lake, no publisher gives up, and a way it does not know is one line, not a traceback."""
    bench = Path(__file__).resolve().parent.parent / "bench" / "lake_fleet.py"
    args = [sys.executable, str(bench), "--hosts", "1", "--seconds", "3", "--json"]
    done = subprocess.run(
        [*args, "--ways", "local,fleet:nice=3"], capture_output=True, text=True, timeout=300
    )
    if done.returncode == 3:  # the benchmark's own servers are missing: as the lake fixtures say
        from lake_servers import unavailable

        unavailable(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    ways = json.loads(done.stdout)["ways"]
    local, fleet = ways["local"], ways["fleet:nice=3"]
    assert local["replays"] > 0 and fleet["replays"] > 0 and not fleet["failed_workers"]
    assert (
        fleet["runs_not_in_lake"] == 0 and fleet["publishers_gave_up"] == 0 and fleet["lag_p95_s"] is not None
    )
    wrong = subprocess.run([*args, "--ways", "fleet:nice"], capture_output=True, text=True, timeout=300)
    assert (
        wrong.returncode != 0
        and "unknown way 'fleet:nice'" in wrong.stderr
        and "Traceback" not in wrong.stderr
    )
