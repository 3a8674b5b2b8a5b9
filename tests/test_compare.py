"""``lakehouse compare``: two labels' runs paired by task, checked against statistics computed here."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from support import invoke

from lakehouse.catalog import sync
from lakehouse.core.paths import Layout

pytestmark = pytest.mark.fast

BASE = [True, True, True, False, False, True, True, False, True, True, False, True]
CANDIDATE = [True, False, True, True, False, False, True, True, True, False, False, True]


def run_line(label: str, task: str, passed: bool, second: int, **extra: Any) -> dict[str, Any]:
    task_hash = hashlib.sha256(task.encode()).hexdigest()
    at = f"2026-05-01T10:{second // 60:02d}:{second % 60:02d}Z"
    return {
        "schema": "replay_run.v1",
        "input_task": task,
        "task_hash": task_hash,
        "retrieved_artifacts": {"rag_ids": extra.get("rag_ids", ["rag:a"])},
        "context_bundle": None,
        "model_response": extra.get("response", "answer"),
        "model_used": "m",
        "escalation_path": extra.get("path", ["m"]),
        "validation_result": {
            "passed": passed,
            "reasons": [] if passed else ["response cites no retrieved rag_id"],
        },
        "recorded_run_id": f"replay:{task_hash[:16]}:{hashlib.sha256(at.encode()).hexdigest()[:12]}",
        "recorded_at": at,
        "duration_ms": 100 + second,
        "calls": [
            {
                "model": "m",
                "ok": True,
                "error": None,
                "latency_ms": 5,
                "prompt_tokens": 10,
                "completion_tokens": extra.get("tokens", 5),
            }
        ],
        "provenance": {"label": label, "corpus_version": extra.get("corpus", "c1")},
    }


def history(layout: Layout) -> list[dict[str, Any]]:
    lines = [run_line("base", f"task {i}", passed, i) for i, passed in enumerate(BASE)]
    lines += [
        run_line(
            "cand",
            f"task {i}",
            passed,
            100 + i,
            rag_ids=["rag:a", "rag:b"] if i == 0 else ["rag:a"],
            tokens=9,
        )
        for i, passed in enumerate(CANDIDATE)
    ]
    lines.append(
        run_line("cand", "task 1", True, 50)
    )  # an older repeat: the latest run of task 1 (failed) counts
    lines.append(run_line("base", "only in base", True, 60))
    layout.replay_runs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    sync(layout)  # written by hand, as another runtime would: the catalog is caught up by a writing command
    return lines


def expected_statistics() -> dict[str, Any]:
    """The same statistics, computed here from the pass lists."""
    pairs = list(zip(BASE, CANDIDATE, strict=True))
    n = len(pairs)
    regressions = sum(1 for b, c in pairs if b and not c)
    fixes = sum(1 for b, c in pairs if c and not b)
    delta = (fixes - regressions) / n
    se = math.sqrt(fixes + regressions - (fixes - regressions) ** 2 / n) / n
    m, k = fixes + regressions, min(fixes, regressions)
    p = min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2**m)
    return {
        "pairs": n,
        "regressions": regressions,
        "fixes": fixes,
        "base_pass_rate": sum(BASE) / n,
        "candidate_pass_rate": sum(CANDIDATE) / n,
        "delta": delta,
        "ci95": [delta - 1.96 * se, delta + 1.96 * se],
        "mcnemar_p": p,
    }


def test_compare_equals_the_statistics_computed_independently(layout: Layout, runner: CliRunner) -> None:
    history(layout)
    result = invoke(runner, "compare", "base", "cand", "--format", "json", "--root", str(layout.root))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    for key, value in expected_statistics().items():
        assert report[key] == pytest.approx(value), key
    assert report["unpaired"] == {"base": 1, "candidate": 0} and report["repeats"] == {
        "base": 0,
        "candidate": 1,
    }
    assert report["corpus_versions"] == {"base": ["c1"], "candidate": ["c1"]}
    by_task = {t["input_task"]: t for t in report["tasks"]}
    assert by_task["task 1"]["change"] == "regression"  # the latest run of task 1, not the passing repeat
    assert by_task["task 0"]["retrieval_jaccard"] == 0.5 and by_task["task 0"]["tokens_delta"] == 4
    assert [t["change"] for t in report["tasks"]][: report["regressions"]] == ["regression"] * report[
        "regressions"
    ]


def test_compare_runs_from_an_analysts_read_only_shell_equals_the_command(
    layout: Layout, runner: CliRunner
) -> None:
    history(layout)
    report = json.loads(
        invoke(runner, "compare", "base", "cand", "--format", "json", "--root", str(layout.root)).stdout
    )
    con = duckdb.connect(str(layout.catalog), read_only=True)
    try:
        cursor = con.execute(
            "SELECT task_hash, change, base_run, candidate_run, retrieval_jaccard FROM compare_runs('base', 'cand')"
        )
        rows = {r[0]: r[1:] for r in cursor.fetchall()}
        (p,) = con.execute("SELECT mcnemar_p FROM compare_summary('base', 'cand')").fetchone()
    finally:
        con.close()
    assert rows == {
        t["task_hash"]: (t["change"], t["base_run"], t["candidate_run"], t["retrieval_jaccard"])
        for t in report["tasks"]
    }
    assert p == pytest.approx(report["mcnemar_p"])


def test_fail_on_regression_gates_a_ci_job(layout: Layout, runner: CliRunner) -> None:
    history(layout)
    root = ["--root", str(layout.root)]
    regressions = expected_statistics()["regressions"]
    assert invoke(runner, "compare", "base", "cand", *root).exit_code == 0
    assert invoke(runner, "compare", "base", "cand", "--fail-on-regression", *root).exit_code == 1
    allowed = ["--fail-on-regression", "--max-regressions", str(regressions)]
    assert invoke(runner, "compare", "base", "cand", *allowed, *root).exit_code == 0
    # --max-regressions alone is the gate a CI job writes: it implies --fail-on-regression
    one_less = ["--max-regressions", str(regressions - 1)]
    assert invoke(runner, "compare", "base", "cand", *one_less, *root).exit_code == 1
    assert (
        invoke(runner, "compare", "base", "cand", "--max-regressions", str(regressions), *root).exit_code == 0
    )
    table = invoke(runner, "compare", "base", "cand", *root).stdout
    assert f"regressions    {regressions}" in table


@pytest.mark.parametrize(
    ("base", "candidate", "message"),
    [
        ("base", "nosuch", "no runs labelled 'nosuch' (labels: base, cand, lonely)"),
        ("base", "lonely", "labels 'base' and 'lonely' have no task in common"),
    ],
)
def test_labels_that_cannot_be_compared_are_one_line_and_exit_2(
    layout: Layout, runner: CliRunner, base: str, candidate: str, message: str
) -> None:
    history(layout)
    with layout.replay_runs.open("a") as log:
        log.write(json.dumps(run_line("lonely", "a task nobody else ran", True, 70)) + "\n")
    sync(layout)
    result = invoke(runner, "compare", base, candidate, "--root", str(layout.root))
    assert result.exit_code == 2 and result.stderr == f"error: {message}\n"


def test_csv_has_one_row_per_paired_task(layout: Layout, runner: CliRunner, tmp_path: Path) -> None:
    history(layout)
    out = invoke(runner, "compare", "base", "cand", "--format", "csv", "--root", str(layout.root)).stdout
    header, *rows = out.splitlines()
    assert header.split(",")[:3] == ["task_hash", "input_task", "base_run"] and len(rows) == len(BASE)


def test_a_catalog_written_before_the_macros_still_compares_and_is_left_as_it_is(
    layout: Layout, runner: CliRunner
) -> None:
    history(layout)
    assert invoke(runner, "compare", "base", "cand", "--root", str(layout.root)).exit_code == 0
    con = duckdb.connect(str(layout.catalog))
    con.execute("DROP MACRO TABLE compare_summary; DROP MACRO TABLE compare_runs")
    con.close()
    before = layout.catalog.read_bytes()
    again = invoke(runner, "compare", "base", "cand", "--format", "json", "--root", str(layout.root))
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["pairs"] == len(BASE)
    assert layout.catalog.read_bytes() == before  # compared with temporary macros: reading never writes
    sync(layout)  # the next writing command stores them for analysts
    con = duckdb.connect(str(layout.catalog), read_only=True)
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'compare_runs'"
        ).fetchone()[0]
        >= 1
    )
    con.close()


def test_only_a_catalog_missing_what_compare_reads_is_told_to_sync(layout: Layout, runner: CliRunner) -> None:
    """The hint that a catalog is older than the code follows a missing column or table, not a failure
    of the data (a value compare cannot compute was once reported with it, and misled)."""
    history(layout)
    con = duckdb.connect(str(layout.catalog))
    con.execute("ALTER TABLE replay_runs RENAME TO replay_runs_kept")
    con.execute(
        "CREATE VIEW replay_runs AS SELECT * REPLACE (error('a value with no reading') AS label) FROM replay_runs_kept"
    )
    con.close()
    failed = invoke(runner, "compare", "base", "cand", "--root", str(layout.root))
    assert failed.exit_code == 4 and "a value with no reading" in failed.stderr
    assert "lakehouse sync" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    con = duckdb.connect(str(layout.catalog))
    con.execute("CREATE OR REPLACE VIEW replay_runs AS SELECT * EXCLUDE (label) FROM replay_runs_kept")
    con.close()
    older = invoke(runner, "compare", "base", "cand", "--root", str(layout.root))
    assert older.exit_code == 4 and "'lakehouse sync' brings it up to date" in older.stderr, older.stderr


def test_compare_says_when_the_catalog_it_reads_is_behind_its_files(
    layout: Layout, runner: CliRunner
) -> None:
    """Runs appended but not mirrored, or prices edited by hand: the comparison is of the catalog as it
    is (reading never writes), and says what it may miss; after a sync it says nothing."""
    history(layout)
    args = ("compare", "base", "cand", "--format", "json", "--root", str(layout.root))
    assert invoke(runner, *args).stderr == ""
    layout.prices.write_text("model,input_usd_per_mtok,output_usd_per_mtok,valid_from\nm,1,1,\n")
    (layout.state_dir / "catalog_behind").touch()  # a writer that could not mirror marks it so
    warned = invoke(runner, *args)
    assert warned.exit_code == 0 and json.loads(warned.stdout)["regressions"] >= 1
    assert "mirror is behind the logs" in warned.stderr and "prices.csv changed" in warned.stderr
    assert invoke(runner, "sync", "--root", str(layout.root)).exit_code == 0
    assert invoke(runner, *args).stderr == ""
