"""The lake: roots (hosts) joined to one DuckLake (PostgreSQL catalog, moto S3) publish exactly once by key,
analysts attach it read-only, and a lake that cannot be reached loses nothing."""

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
from support import lakehouse_command

pytestmark = pytest.mark.slow


@pytest.fixture
def lake_args(lakes: Lakes) -> list[str]:
    return lakes.new()


def test_hosts_pushing_overlapping_roots_at_once_publish_each_row_once(
    tmp_path: Path, lake_args: list[str]
) -> None:
    # Two hosts with the same demo (same evidence ids: content-addressed) and a third with another seed.
    roots = [demo_root(tmp_path, "a"), demo_root(tmp_path, "b"), demo_root(tmp_path, "c", seed=9)]
    for root in roots:
        lakehouse("lake", "init", "--root", str(root), *lake_args)
    pushes = [subprocess.Popen([*lakehouse_command(), "lake", "push", "--root", str(r)], env={**os.environ, **AWS},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in roots]  # fmt: skip
    for push in pushes:
        _, err = push.communicate(timeout=300)
        assert push.returncode == 0, err
        assert "published" in err
    counts = lake_sql(
        roots[0],
        "SELECT (SELECT count(*) FROM evidence) AS evidence, (SELECT count(DISTINCT evidence_id) FROM evidence) AS ids, "
        "(SELECT count(*) FROM replay_runs) AS runs, (SELECT count(DISTINCT recorded_run_id) FROM replay_runs) AS run_ids",
    )[0]
    assert counts["evidence"] == counts["ids"]
    assert counts["runs"] == counts["run_ids"]
    distinct = lake_sql(roots[0], "SELECT 1")  # the lake is readable after concurrent commits
    assert distinct == [{"1": 1}]
    for root in roots:  # every row of every root is in the lake, once
        for table, row in status(root).items():
            assert row["not_in_lake"] == 0, (root.name, table)
    mine = {r["table"]: r["local"] for r in status(roots[0]).values()}
    theirs = {r["table"]: r["local"] for r in status(roots[2]).values()}
    assert counts["evidence"] > max(mine["evidence"], theirs["evidence"])  # the two demos overlap only partly


def test_push_is_idempotent_and_an_analyst_attaches_the_lake_read_only(
    tmp_path: Path, lake_args: list[str], postgres: Postgres, s3: S3Server
) -> None:
    root = demo_root(tmp_path, "host")
    lakehouse("lake", "init", "--root", str(root), *lake_args)
    config = json.loads((root / "data" / "lake.json").read_text())
    assert "password" not in json.dumps(config) and "test" not in json.dumps(config)  # no secret on disk
    first = lakehouse("lake", "push", "--root", str(root)).stderr
    second = lakehouse("lake", "push", "--root", str(root)).stderr
    assert "published 0 evidence, 0 replay_runs, 0 receipts, 0 quarantine" in second
    assert "published 0 evidence" not in first
    local = {t: r["local"] for t, r in status(root).items()}
    assert {t: r["in_lake"] for t, r in status(root).items()} == local

    named = ["query", "pass_rate_by_day_and_model", "--root", str(root), "--format", "jsonl"]
    # The lake holds what this root holds: the named query gives the same rows on both.
    assert lakehouse(*named, "--lake").stdout == lakehouse(*named).stdout
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
        print(con.execute("SELECT count(*) FROM lake.evidence").fetchone()[0])
        try:
            con.execute("DELETE FROM lake.evidence")
            print("wrote")
        except duckdb.Error:
            print("read-only")
        """
    )
    done = subprocess.run([sys.executable, "-c", analyst], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(local["evidence"]), "read-only"]


def test_an_unreachable_lake_loses_nothing_and_push_catches_up(
    tmp_path: Path, lake_args: list[str], postgres: Postgres
) -> None:
    root = demo_root(tmp_path, "host")
    lakehouse("lake", "init", "--root", str(root), *lake_args)
    lakehouse("lake", "push", "--root", str(root))
    postgres.stop()
    try:
        replay = lakehouse("replay", "fix the flaky test", "--dry-run", "--root", str(root), check=False)
        assert replay.returncode in (0, 1), replay.stderr  # the run is recorded locally either way
        warnings = [line for line in replay.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "the lake is behind" in warnings[0] and "lake push" in warnings[0]
        failed = lakehouse("lake", "push", "--root", str(root), check=False)
        assert failed.returncode == 4
        assert failed.stderr.startswith("error: cannot reach the lake") and failed.stderr.count("\n") == 1
        assert "Traceback" not in failed.stderr
    finally:
        postgres.start()
    with (root / "data" / "_kb" / "replay_runs.jsonl").open() as log:
        runs_before = sum(1 for _ in log)
    lakehouse("lake", "push", "--root", str(root))
    assert status(root)["replay_runs"]["in_lake"] == runs_before
    assert all(row["not_in_lake"] == 0 for row in status(root).values())


def test_a_joined_root_publishes_what_it_commits(tmp_path: Path, lake_args: list[str]) -> None:
    root = demo_root(tmp_path, "host")
    lakehouse("lake", "init", "--root", str(root), *lake_args)
    lakehouse("lake", "push", "--root", str(root))
    runs = status(root)["replay_runs"]["in_lake"]
    replay = lakehouse(
        "replay", "rotate the expiring certificates", "--dry-run", "--root", str(root), check=False
    )
    assert replay.returncode in (0, 1) and "warning" not in replay.stderr
    assert status(root)["replay_runs"]["in_lake"] == runs + 1
    assert all(row["not_in_lake"] == 0 for row in status(root).values())


def test_pushing_in_process_leaves_the_catalog_free_for_the_next_connection(
    tmp_path: Path, lake_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library user (a long-lived replay session) pushes, then writes the catalog again, and again."""
    from lakehouse import lake
    from lakehouse.core import db
    from lakehouse.core.paths import open_root

    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    root = demo_root(tmp_path, "host")
    lakehouse("lake", "init", "--root", str(root), *lake_args)
    layout = open_root(root)
    config = lake.require(layout)
    for _ in range(2):
        lake.push(layout, config)
        with db.catalog(layout.catalog) as con:  # a write connection: fails if the push left it attached
            assert con.execute("SELECT count(*) FROM replay_runs").fetchone()[0] > 0


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
