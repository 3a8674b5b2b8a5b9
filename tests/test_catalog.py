"""The catalog analysts attach: tables and views, named queries, ad-hoc SQL, stats, locks held by others."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from support import ANALYST_TABLES, invoke, write_stream

from lakehouse import catalog
from lakehouse.catalog import analytics
from lakehouse.core.paths import Layout

pytestmark = pytest.mark.fast

DUCKDB_SHELL = Path(sys.executable).with_name("duckdb")


def run_record(i: int, *, day: int, model: str, passed: bool, escalated: bool, tokens: int) -> dict:
    """A replay_run.v1 line as replay writes it (escalated runs: local failed its gates)."""
    local = "local-7b"
    calls = [
        {
            "model": local,
            "ok": True,
            "error": None,
            "latency_ms": 10,
            "prompt_tokens": tokens,
            "completion_tokens": 5,
            "gate_reasons": ["response cites no retrieved rag_id"] if escalated or not passed else [],
        }
    ]
    if escalated:
        calls.append({**calls[0], "model": model, "gate_reasons": [] if passed else ["response is empty"]})
    reasons = (
        [] if passed else (["response is empty"] if escalated else ["response cites no retrieved rag_id"])
    )
    if escalated and passed:
        reasons = [f"recovered via escalation to {model}"]
    return {
        "schema": "replay_run.v1",
        "input_task": f"task {i}",
        "task_hash": f"{i:064x}",
        "retrieved_artifacts": {"rag_ids": []},
        "context_bundle": None,
        "model_response": "x",
        "model_used": model if escalated else local,
        "escalation_path": [local, model] if escalated else [local],
        "validation_result": {"passed": passed, "reasons": reasons},
        "recorded_run_id": f"replay:{i:016x}:000000000000",
        "recorded_at": f"2026-03-{day:02d}T10:00:00.{i:09d}Z",
        "duration_ms": 1000 + (i * 37) % 500,
        "calls": calls,
        "provenance": {"tool_version": "test"},
    }


def synthetic_runs(count: int) -> list[dict]:
    runs = []
    for i in range(count):
        escalated = i % 3 == 0
        runs.append(
            run_record(
                i, day=1 + i % 4, model="big-32b", passed=i % 5 != 0, escalated=escalated, tokens=100 + i
            )
        )
    return runs


@pytest.fixture
def history(layout: Layout) -> tuple[Layout, list[dict]]:
    runs = synthetic_runs(60)
    layout.replay_runs.write_text("".join(json.dumps(r) + "\n" for r in runs))
    write_stream(
        layout,
        "task_outcomes",
        [
            {
                "task_id": f"t{i}",
                "ts": f"2026-03-0{1 + i % 3}T08:00:00Z",
                "outcome": "pass" if i % 2 else "fail",
            }
            for i in range(12)
        ],
    )
    result = invoke(CliRunner(), "materialize", "--root", str(layout.root))
    assert result.exit_code == 0, result.output
    return layout, runs


def query(layout: Layout, name: str) -> list[dict]:
    table, _ = analytics.run(layout, analytics.named_query_sql(name))
    return table.to_pylist()


def test_named_queries_match_what_the_log_says(history: tuple[Layout, list[dict]]) -> None:
    layout, runs = history
    catalog.sync(layout)

    by_day_model: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in runs:
        by_day_model[(r["recorded_at"][:10], r["model_used"])].append(r["validation_result"]["passed"])
    got = {
        (str(row["day"]), row["model"]): (row["runs"], row["passed"])
        for row in query(layout, "pass_rate_by_day_and_model")
    }
    assert got == {k: (len(v), sum(v)) for k, v in by_day_model.items()}

    escalated = [r for r in runs if len(r["escalation_path"]) > 1]
    (row,) = query(layout, "escalation_rate_by_model")
    assert (row["runs"], row["escalated"], row["recovered"]) == (
        len(runs),
        len(escalated),
        sum(r["validation_result"]["passed"] for r in escalated),
    )

    reasons = Counter(
        x for r in runs if not r["validation_result"]["passed"] for x in r["validation_result"]["reasons"]
    )
    assert {row["reason"]: row["runs"] for row in query(layout, "top_failure_reasons")} == dict(reasons)

    spend: dict[tuple[str, str], int] = defaultdict(int)
    for r in runs:
        for call in r["calls"]:
            spend[(r["recorded_at"][:10], call["model"])] += call["prompt_tokens"] + call["completion_tokens"]
    got_spend = {
        (str(row["day"]), row["model"]): row["total_tokens"]
        for row in query(layout, "token_spend_by_model_and_day")
    }
    assert got_spend == dict(spend)

    slowest = sorted(runs, key=lambda r: (-r["duration_ms"], r["recorded_run_id"]))[:20]
    assert [row["recorded_run_id"] for row in query(layout, "slowest_runs")] == [
        r["recorded_run_id"] for r in slowest
    ]

    evidence = Counter()
    for path in layout.evidence_jsonl.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            evidence[(record["day"], record["kind"])] += 1
    got_evidence = {
        (str(row["day"]), row["kind"]): row["records"] for row in query(layout, "evidence_by_kind_and_day")
    }
    assert got_evidence == dict(evidence) and evidence


def test_escalations_and_calls_views(history: tuple[Layout, list[dict]]) -> None:
    layout, runs = history
    catalog.sync(layout)
    table, _ = analytics.run(
        layout, "SELECT from_model, to_model, recovered, reasons FROM escalations ORDER BY recorded_run_id"
    )
    rows = table.to_pylist()
    escalated = sorted((r for r in runs if len(r["escalation_path"]) > 1), key=lambda r: r["recorded_run_id"])
    assert len(rows) == len(escalated)
    assert rows[0] == {
        "from_model": "local-7b",
        "to_model": "big-32b",
        "recovered": escalated[0]["validation_result"]["passed"],
        "reasons": ["response cites no retrieved rag_id"],
    }
    table, _ = analytics.run(layout, "SELECT count(*) AS n FROM replay_calls")
    assert table.to_pylist() == [{"n": sum(len(r["calls"]) for r in runs)}]


def test_sql_is_read_only_unless_write(layout: Layout, runner: CliRunner) -> None:
    root = str(layout.root)
    refused = invoke(runner, "sql", "CREATE TABLE t (i INT)", "--root", root)
    assert refused.exit_code == 2 and "pass --write" in refused.stderr
    written = invoke(
        runner, "sql", "CREATE TABLE notes (i INT); INSERT INTO notes VALUES (1)", "--write", "--root", root
    )
    assert written.exit_code == 0, written.output
    read = invoke(runner, "sql", "SELECT i FROM notes", "--format", "csv", "--root", root)
    assert read.exit_code == 0 and read.stdout.splitlines() == ["i", "1"]
    bad = invoke(runner, "sql", "SELEC 1", "--root", root)
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "syntax error" in bad.stderr.lower()
    # what a hurried user types: DuckDB's suggestion stays on the one line
    for typed, hint in [
        ("SELECT i FROM note", 'Did you mean "notes"?'),
        ("SELECT id FROM notes", 'Candidate bindings: "i"'),
        ("SELECT lenght('x')", 'Did you mean "length"?'),
    ]:
        misspelt = invoke(runner, "sql", typed, "--root", root)
        assert misspelt.exit_code == 2 and misspelt.stderr.count("\n") == 1, misspelt.stderr
        assert hint in misspelt.stderr and "LINE 1" not in misspelt.stderr, misspelt.stderr


def test_query_names_formats_and_parquet(
    history: tuple[Layout, list[dict]], runner: CliRunner, tmp_path: Path
) -> None:
    layout, runs = history
    root = str(layout.root)
    unknown = invoke(runner, "query", "nope", "--root", root)
    assert (
        unknown.exit_code == 2
        and "slowest_runs" in unknown.stderr
        and "pass_rate_by_day_and_model" in unknown.stderr
    )
    listed = invoke(runner, "query", "--list")
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == len(analytics.named_queries()) == 9
    needs_output = invoke(runner, "query", "slowest_runs", "--format", "parquet", "--root", root)
    assert needs_output.exit_code == 2 and "--output" in needs_output.stderr
    target = tmp_path / "slow.parquet"
    written = invoke(
        runner, "query", "slowest_runs", "--format", "parquet", "--output", str(target), "--root", root
    )
    assert written.exit_code == 0 and pq.read_table(target).num_rows == 20
    as_json = invoke(runner, "query", "escalation_rate_by_model", "--format", "json", "--root", root)
    assert json.loads(as_json.stdout)[0]["runs"] == len(runs)
    as_table = invoke(runner, "query", "escalation_rate_by_model", "--format", "table", "--root", root)
    assert as_table.stdout.splitlines()[0].split()[:2] == ["local_model", "runs"]


def test_a_file_that_is_not_a_database_gets_a_hint_and_sync_repairs_it(
    history: tuple[Layout, list[dict]], runner: CliRunner
) -> None:
    layout, runs = history
    layout.catalog.write_bytes(b"this is not a duckdb file" * 100)
    failed = invoke(runner, "sql", "SELECT 1", "--root", str(layout.root))
    assert failed.exit_code == 4 and "rebuild" in failed.stderr and "Traceback" not in failed.stderr
    repaired = invoke(runner, "sync", "--root", str(layout.root))
    assert repaired.exit_code == 0 and "damaged" in repaired.stderr
    table, _ = analytics.run(layout, "SELECT count(*) AS n FROM replay_runs")
    assert table.to_pylist() == [{"n": len(runs)}]


def test_mirror_reads_only_new_lines_and_leaves_a_partial_line(history: tuple[Layout, list[dict]]) -> None:
    layout, runs = history
    catalog.sync(layout)
    more = [
        run_record(1000 + i, day=5, model="big-32b", passed=True, escalated=False, tokens=1) for i in range(3)
    ]
    with layout.replay_runs.open("a") as log:
        log.write("".join(json.dumps(r) + "\n" for r in more[:2]))
        log.write(json.dumps(more[2])[:40])  # a line still being written
    assert catalog.sync(layout).replay_runs == 2
    with layout.replay_runs.open("a") as log:
        log.write(json.dumps(more[2])[40:] + "\n")
    assert catalog.sync(layout).replay_runs == 1
    assert catalog.sync(layout).replay_runs == 0
    table, _ = analytics.run(
        layout, "SELECT count(*) AS n, count(DISTINCT recorded_run_id) AS d FROM replay_runs"
    )
    assert table.to_pylist() == [{"n": len(runs) + 3, "d": len(runs) + 3}]


def test_runs_of_another_producer_with_values_of_no_reading_leave_the_catalog_readable(
    history: tuple[Layout, list[dict]], runner: CliRunner
) -> None:
    """A token count past BIGINT (in a run, in one call, in a sum), a time that is not one, a line that is
    not JSON: sync mirrors what has a reading (NULL for the rest) and keeps the catalog where it is; SQL,
    every named query, compare and the report still answer (one such line once failed every mirror, and
    sync moved the catalog aside and failed again)."""
    layout, runs = history
    big = 2**63 - 1
    summed = run_record(
        900, day=2, model="big-32b", passed=True, escalated=False, tokens=big
    )  # + 5 completion
    odd = [
        {**summed, "recorded_run_id": "r:sum", "provenance": {"label": "base"}},
        {**summed, "recorded_run_id": "r:sum2", "provenance": {"label": "cand"}},
        {**runs[0], "recorded_run_id": "r:past", "calls": [{"model": "m", "prompt_tokens": 10**20}]},
        {**runs[0], "recorded_run_id": "r:when", "recorded_at": "last tuesday"},
    ]
    with layout.replay_runs.open("a") as log:
        log.write("".join(json.dumps(r) + "\n" for r in odd) + "not JSON at all\n")
    root = str(layout.root)
    synced = invoke(runner, "sync", "--root", root)
    assert synced.exit_code == 0, synced.output
    assert not list(layout.catalog.parent.glob("*.damaged-*"))  # nothing moved aside
    sql = (
        "SELECT recorded_run_id AS id, recorded_at IS NULL AS no_time, calls[1].prompt_tokens AS p "
        "FROM replay_runs WHERE recorded_run_id LIKE 'r:%' ORDER BY 1"
    )
    mirrored = invoke(runner, "sql", sql, "--format", "json", "--root", root)
    assert json.loads(mirrored.stdout) == [
        {"id": "r:past", "no_time": False, "p": None},
        {"id": "r:sum", "no_time": False, "p": big},
        {"id": "r:sum2", "no_time": False, "p": big},
        {"id": "r:when", "no_time": True, "p": runs[0]["calls"][0]["prompt_tokens"]},
    ]
    for name in analytics.named_queries():
        answered = invoke(runner, "query", name, "--root", root)
        assert answered.exit_code == 0, (name, answered.output)
    compared = invoke(runner, "compare", "base", "cand", "--root", root)
    assert compared.exit_code == 0 and "1 tasks paired" in compared.output, compared.output
    report = invoke(runner, "report", "--root", root, "--compare", "base", "cand")
    assert report.exit_code == 0, report.output


def test_a_log_line_sync_cannot_read_names_the_log_and_leaves_the_catalog_in_place(
    history: tuple[Layout, list[dict]], runner: CliRunner
) -> None:
    """Only a file that is not a database is moved aside and rebuilt; a log the mirror cannot read (here
    a receipts line cut short by hand) fails sync with the log's name, and the catalog still answers."""
    layout, runs = history
    with layout.receipts.open("a") as log:
        log.write('{"schema": "materialize_receipt.v1", "receipt_id": \n')
    root = str(layout.root)
    failed = invoke(runner, "sync", "--root", root)
    assert failed.exit_code == 4 and f"cannot mirror {layout.receipts}" in failed.stderr, failed.output
    assert not list(layout.catalog.parent.glob("*.damaged-*"))
    answered = invoke(
        runner, "sql", "SELECT count(*) AS n FROM replay_runs", "--format", "json", "--root", root
    )
    assert json.loads(answered.stdout) == [{"n": len(runs)}]


def test_stats_shows_the_root_and_mirror_lag(history: tuple[Layout, list[dict]], runner: CliRunner) -> None:
    layout, runs = history
    catalog.sync(layout)
    screen = invoke(runner, "stats", "--root", str(layout.root))
    assert screen.exit_code == 0
    assert (
        f"replay runs       {len(runs)} (pass" in screen.stdout
        and "mirror            up to date" in screen.stdout
    )
    with layout.replay_runs.open("a") as log:
        log.write(
            json.dumps(run_record(999, day=6, model="m", passed=True, escalated=False, tokens=1)) + "\n"
        )
    report = json.loads(invoke(runner, "stats", "--json", "--root", str(layout.root)).stdout)
    lag = {x["log"]: x["lines_behind"] for x in report["mirror_lag"]}
    assert lag["replay_runs.jsonl"] == 1 and report["runs"] == len(runs)
    assert report["evidence_by_kind"] == {"replay": len(runs), "task_outcome": 12}


def shell(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([str(DUCKDB_SHELL), *args], cwd=cwd, text=True, **kwargs)


@pytest.mark.slow
def test_analysts_read_every_table_from_another_directory(
    history: tuple[Layout, list[dict]], tmp_path: Path
) -> None:
    layout, runs = history
    catalog.sync(layout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in ANALYST_TABLES)
    proc = shell(
        "-readonly",
        "-csv",
        "-noheader",
        str(layout.catalog),
        "-c",
        sql,
        cwd=elsewhere,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    counts = {line.split(",")[0]: int(line.split(",")[1]) for line in out.splitlines()}
    assert (
        counts["evidence"] == 12 + len(runs)
        and counts["replay_runs"] == len(runs)
        and counts["receipts"] == 1
    )
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{layout.catalog}' AS lh (READ_ONLY)")
        assert con.execute("SELECT count(*) FROM lh.evidence").fetchone() == (12 + len(runs),)
        assert con.execute("SELECT count(*) FROM lh.escalations").fetchone() == (counts["escalations"],)
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["read-write", "read-only"])
def test_writers_succeed_while_the_duckdb_shell_holds_the_catalog(
    history: tuple[Layout, list[dict]], tmp_path: Path, mode: str
) -> None:
    layout, runs = history
    catalog.sync(layout)
    args = ["-csv", "-noheader", str(layout.catalog)]
    analyst = shell(
        *(["-readonly"] if mode == "read-only" else []),
        *args,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        analyst.stdin.write("SELECT 'open';\n")
        analyst.stdin.flush()
        assert analyst.stdout.readline().strip() == "open"
        runner = CliRunner()
        write_stream(
            layout, "task_outcomes", [{"task_id": "late", "ts": "2026-03-09T08:00:00Z", "outcome": "pass"}]
        )
        materialized = invoke(runner, "materialize", "--root", str(layout.root))
        assert materialized.exit_code == 0 and "behind" in materialized.stderr
        for task in ("stabilise a flaky test", "rotate certificates"):
            replayed = invoke(runner, "replay", task, "--dry-run", "--root", str(layout.root))
            assert replayed.exit_code == 0, replayed.output
            assert "warning:" in replayed.stderr
    finally:
        analyst.stdin.close()
        analyst.wait(timeout=30)
        analyst.stdout.close()
    lines = layout.replay_runs.read_text().splitlines()
    assert len(lines) == len(runs) + 2  # nothing lost
    first = catalog.sync(layout)
    assert first.replay_runs == 2 and first.receipts == 1
    second = catalog.sync(layout)
    assert (second.replay_runs, second.receipts, second.quarantine, second.documents) == (0, 0, 0, 0)
    table, _ = analytics.run(
        layout, "SELECT (SELECT count(*) FROM replay_runs) AS runs, (SELECT count(*) FROM evidence) AS ev"
    )
    assert table.to_pylist() == [{"runs": len(runs) + 2, "ev": 13 + len(runs)}]


def test_a_materialize_with_nothing_new_mirrors_its_receipt_and_a_dropped_view_comes_back(
    layout: Layout, runner: CliRunner
) -> None:
    """A run with nothing new skips rebuilding the catalog's tables and views (the last rebuild, from the
    same code and root, left them all) but mirrors its own receipt; a view an analyst dropped is rebuilt
    by the next run, one an analyst replaced by `lakehouse sync`."""
    write_stream(layout, "model_calls", [{"ts": "2026-05-01T10:00:00Z", "call_id": "c1", "model": "m"}])
    for _ in range(2):
        assert invoke(runner, "materialize", "--root", str(layout.root)).exit_code == 0
    with duckdb.connect(str(layout.catalog), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM receipts").fetchone() == (2,)
    with duckdb.connect(str(layout.catalog)) as con:  # an analyst drops a view, replaces another
        con.execute("DROP VIEW evidence")
        con.execute("CREATE OR REPLACE VIEW replay_calls AS SELECT 1 AS x")
    assert invoke(runner, "materialize", "--root", str(layout.root)).exit_code == 0
    with duckdb.connect(str(layout.catalog), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM receipts").fetchone() == (3,)
        assert con.execute("SELECT count(*) FROM evidence").fetchone() == (1,)
    before = layout.catalog.stat().st_mtime_ns
    assert invoke(runner, "sql", "SELECT 1", "--root", str(layout.root)).exit_code == 0
    assert layout.catalog.stat().st_mtime_ns == before  # reading never writes
    assert invoke(runner, "sync", "--root", str(layout.root)).exit_code == 0
    with duckdb.connect(str(layout.catalog), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM replay_calls").fetchone() == (0,)
