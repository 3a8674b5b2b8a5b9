"""Replay against a real loopback gateway: the seed's semantics, exit codes, the log and its mirror."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from stub_gateway import StubGateway
from support import invoke

from lakehouse import replay, retrieval
from lakehouse.core.errors import UsageError
from lakehouse.core.paths import Layout
from lakehouse.core.types import Document
from lakehouse.gateway import Gateway
from lakehouse.retrieval import corpus

pytestmark = pytest.mark.fast

LOCAL, STRONG = "local-7b", "strong-70b"
TASK = "stabilise the flaky integration test"
GROUNDED = "Re-run it in isolation and check shared state [rag:flaky]."


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    with StubGateway() as gateway:
        yield gateway


@pytest.fixture
def seeded(layout: Layout) -> Layout:
    retrieval.add_documents(
        layout,
        [
            Document(
                "rag:flaky",
                "Stabilise a flaky test",
                "re-run the flaky test in isolation; check shared state",
            ),
            Document("rag:leak", "Hunt a memory leak", "heap profiles over time"),
        ],
        corpus.AddReport(),
    )
    return layout


def run_cli(runner: CliRunner, layout: Layout, stub: StubGateway, *args: str) -> tuple[int, dict]:
    result = invoke(
        runner,
        "replay",
        TASK,
        "--root",
        str(layout.root),
        "--gateway-url",
        stub.url,
        "--local-model",
        LOCAL,
        "--escalation-model",
        STRONG,
        "--json",
        *args,
    )
    return result.exit_code, json.loads(result.stdout)


def logged(layout: Layout) -> list[dict]:
    return [json.loads(line) for line in layout.replay_runs.read_text().splitlines()]


def test_grounded_pass(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("ok", GROUNDED, {"prompt_tokens": 120, "completion_tokens": 30})]
    code, record = run_cli(runner, seeded, stub)
    assert code == 0
    assert record["validation_result"] == {"passed": True, "reasons": []}
    assert record["escalation_path"] == [LOCAL] and record["model_used"] == LOCAL
    assert record["retrieved_artifacts"]["rag_ids"][0] == "rag:flaky"
    assert record["calls"] == [
        {
            "model": LOCAL,
            "ok": True,
            "error": None,
            "latency_ms": record["calls"][0]["latency_ms"],
            "prompt_tokens": 120,
            "completion_tokens": 30,
            "gate_reasons": [],
        }
    ]
    user_prompt = stub.requests[0]["body"]["messages"][1]["content"]
    assert "[rag:flaky] Stabilise a flaky test" in user_prompt and TASK in user_prompt
    assert logged(seeded) == [{**record}]


def test_ungrounded_local_answer_escalated_and_recovered(
    runner: CliRunner, seeded: Layout, stub: StubGateway
) -> None:
    stub.script[LOCAL] = [("ok", "Just retry it until it passes.")]
    stub.script[STRONG] = [("ok", GROUNDED)]
    code, record = run_cli(runner, seeded, stub, "--allow-escalation")
    assert code == 0
    assert record["escalation_path"] == [LOCAL, STRONG] and record["model_used"] == STRONG
    assert record["validation_result"]["reasons"] == [f"recovered via escalation to {STRONG}"]
    assert record["model_response"] == GROUNDED


def test_escalation_off_records_a_failure(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("ok", "Just retry it until it passes.")]
    code, record = run_cli(runner, seeded, stub)
    assert code == 1
    assert record["validation_result"] == {"passed": False, "reasons": ["response cites no retrieved rag_id"]}
    assert record["escalation_path"] == [LOCAL] and len(stub.requests) == 1


def test_local_only_never_escalates(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("ok", "See [rag:made-up] for details.")]
    code, record = run_cli(runner, seeded, stub, "--allow-escalation", "--local-only")
    assert code == 1 and record["escalation_path"] == [LOCAL] and len(stub.requests) == 1
    assert record["validation_result"]["reasons"] == [
        "response cites no retrieved rag_id",
        "response cites rag_ids that were not retrieved: rag:made-up",
    ]


def test_local_500_recovered_by_escalation(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("status", 500, "model crashed")]
    stub.script[STRONG] = [("ok", GROUNDED)]
    code, record = run_cli(runner, seeded, stub, "--allow-escalation")
    assert code == 0 and record["model_used"] == STRONG
    assert (
        record["calls"][0]["ok"] is False
        and record["calls"][0]["error"] == "HTTP 500 from gateway: model crashed"
    )
    assert record["validation_result"]["reasons"] == [f"recovered via escalation to {STRONG}"]


def test_both_failing(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("status", 500, "boom")]
    stub.script[STRONG] = [("status", 503, "overloaded")]
    code, record = run_cli(runner, seeded, stub, "--allow-escalation")
    assert code == 1
    assert record["validation_result"] == {
        "passed": False,
        "reasons": [
            "local call failed: HTTP 500 from gateway: boom",
            "escalation also failed: HTTP 503 from gateway: overloaded",
        ],
    }
    assert record["model_used"] == LOCAL and record["model_response"] == ""


def test_timeout_is_a_failed_call(seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("sleep", 1.0, GROUNDED)]
    with Gateway(stub.url, timeout_s=0.2) as gateway:
        record = replay.run(replay.ReplayRequest(TASK, local_model=LOCAL), seeded, gateway=gateway)
    assert record["validation_result"]["reasons"] == [
        f"local call failed: timeout after 0.2s calling {stub.url}"
    ]


def test_non_json_body_is_a_failed_call(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("raw", "<html>proxy error</html>")]
    code, record = run_cli(runner, seeded, stub)
    assert code == 1
    assert record["validation_result"]["reasons"] == [
        "local call failed: malformed response: body is not JSON ('<html>proxy error</html>')"
    ]


def test_gateway_down_is_a_failed_call(runner: CliRunner, seeded: Layout) -> None:
    result = invoke(
        runner, "replay", TASK, "--root", str(seeded.root), "--gateway-url", "http://127.0.0.1:9", "--json"
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["validation_result"]["reasons"][0].startswith(
        "local call failed: connection error to http://127.0.0.1:9"
    )


def test_refusal_fails_validation(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("ok", "As an AI, I can't help with that [rag:flaky].")]
    code, record = run_cli(runner, seeded, stub)
    assert code == 1 and record["validation_result"]["reasons"] == ["refusal: response says 'As an AI'"]


def test_no_retrieval_has_no_bundle_and_no_citation_gates(
    runner: CliRunner, seeded: Layout, stub: StubGateway
) -> None:
    stub.script[LOCAL] = [("ok", "Re-run it alone.")]
    code, record = run_cli(runner, seeded, stub, "--no-retrieval")
    assert code == 0
    assert record["context_bundle"] is None and record["retrieved_artifacts"] == {"rag_ids": []}
    assert "rag:" not in stub.requests[0]["body"]["messages"][1]["content"]


def test_response_is_cut_to_4000_characters_in_the_log_only(
    runner: CliRunner, seeded: Layout, stub: StubGateway
) -> None:
    long_answer = GROUNDED + " é" * 3000
    stub.script[LOCAL] = [("ok", long_answer)]
    code, record = run_cli(runner, seeded, stub)
    assert code == 0 and record["model_response"] == long_answer
    [line] = logged(seeded)
    assert line["model_response"] == long_answer[:4000] and len(line["model_response"]) == 4000


def test_dry_run_uses_no_network_and_escalation_appends_marker(seeded: Layout, runner: CliRunner) -> None:
    result = invoke(
        runner,
        "replay",
        TASK,
        "--root",
        str(seeded.root),
        "--dry-run",
        "--gateway-url",
        "http://127.0.0.1:9",
        "--json",
    )
    record = json.loads(result.stdout)
    assert result.exit_code == 0 and "[rag:flaky]" in record["model_response"]
    caller = replay.dry_run_caller(TASK, None)
    first, second = caller("a", "s", "u"), caller("b", "s", "u")
    assert second.content == first.content + "\n\n[ESCALATED]"


def test_run_id_and_task_hash_formats(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("ok", GROUNDED)]
    _, record = run_cli(runner, seeded, stub)
    task_hash = hashlib.sha256(TASK.encode()).hexdigest()
    assert record["task_hash"] == task_hash
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", record["recorded_at"])
    suffix = hashlib.sha256(record["recorded_at"].encode()).hexdigest()[:12]
    assert record["recorded_run_id"] == f"replay:{task_hash[:16]}:{suffix}"
    assert set(record["provenance"]) == {
        "label",
        "replay_of",
        "tool_version",
        "corpus_version",
        "prompt_sha256",
        "gates_version",
        "options",
    }


def test_key_is_sent_as_bearer_and_written_nowhere(
    seeded: Layout, stub: StubGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-very-secret-key-123"
    monkeypatch.setenv("LH_GATEWAY_API_KEY", secret)
    stub.script[LOCAL] = [("status", 500, "x")]
    stub.script[STRONG] = [("ok", GROUNDED)]
    code, _ = run_cli(CliRunner(), seeded, stub, "--allow-escalation")
    assert code == 0
    assert [r["headers"].get("Authorization") for r in stub.requests] == [f"Bearer {secret}"] * 2
    for path in seeded.root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_empty_task_is_a_usage_error(runner: CliRunner, seeded: Layout) -> None:
    result = invoke(runner, "replay", "   ", "--root", str(seeded.root), "--dry-run")
    assert result.exit_code == 2 and result.stderr.strip() == "error: the task is empty"


def test_malformed_corpus_is_exit_4(runner: CliRunner, seeded: Layout) -> None:
    with open(seeded.rag_corpus, "a") as handle:
        handle.write("{not json\n")
    result = invoke(runner, "replay", TASK, "--root", str(seeded.root), "--dry-run")
    assert result.exit_code == 4 and "rag_corpus.jsonl:3 is not valid JSON" in result.stderr


def test_runs_are_mirrored_into_the_catalog(runner: CliRunner, seeded: Layout, stub: StubGateway) -> None:
    stub.script[LOCAL] = [("ok", GROUNDED)]
    run_cli(runner, seeded, stub)
    run_cli(runner, seeded, stub)
    con = duckdb.connect(str(seeded.catalog), read_only=True)
    try:
        rows = con.execute(
            "SELECT recorded_run_id, validation_result.passed, len(calls), escalation_path "
            "FROM replay_runs ORDER BY recorded_at"
        ).fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows] == [r["recorded_run_id"] for r in logged(seeded)]
    assert all(r[1] is True and r[2] == 1 and r[3] == [LOCAL] for r in rows)


def test_tasks_file_reports_bad_lines_and_runs_the_rest(
    runner: CliRunner, seeded: Layout, tmp_path: Path
) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        '{"task": "one"}\nnot json\n{"nope": 1}\n{"task": "two", "no_retrieval": true}\n'
        '{"task": "three", "colour": "red"}\n'
    )
    result = invoke(
        runner, "replay", "--tasks", str(tasks), "--root", str(seeded.root), "--dry-run", "--concurrency", "2"
    )
    assert result.exit_code == 0, result.output
    assert f"skipped {tasks}:2: invalid JSON" in result.stderr
    assert f"skipped {tasks}:3: needs a non-empty string 'task'" in result.stderr
    assert f"skipped {tasks}:5: unknown options ['colour']" in result.stderr
    assert "2 runs: 2 passed, 0 not passed, 0 escalated; 3 task lines skipped, 0 errors" in result.stderr
    by_task = {r["input_task"]: r for r in logged(seeded)}
    assert sorted(by_task) == ["one", "two"] and by_task["two"]["context_bundle"] is None


def test_tasks_file_as_producers_write_it_options_checked_as_the_flags_are(
    runner: CliRunner, seeded: Layout, tmp_path: Path
) -> None:
    """A byte-order mark, numbers as strings and numeric labels are read; an option the command line would
    refuse skips its line with the reason (it used to end the whole batch with an internal error)."""
    tasks = tmp_path / "tasks.jsonl"
    lines = [
        {"task": "with a bom"},
        {"task": "k as text", "k": "3", "local_only": "TRUE", "label": 7},
        {"task": "k as float", "k": 2.0},
        {"task": "k zero", "k": 0},
        {"task": "k words", "k": "three"},
        {"task": "k boolean", "k": True},
        {"task": "method", "retrieval": "nope"},
        {"task": "flag", "allow_escalation": "yes"},
        {"task": "label", "label": ["a"]},
    ]
    tasks.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(line) + "\n" for line in lines).encode())
    result = invoke(runner, "replay", "--tasks", str(tasks), "--root", str(seeded.root), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "3 runs: 3 passed, 0 not passed, 0 escalated; 6 task lines skipped, 0 errors" in result.stderr
    for number, option in [
        (4, "'k'"),
        (5, "'k'"),
        (6, "'k'"),
        (7, "'retrieval'"),
        (8, "'allow_escalation'"),
        (9, "'label'"),
    ]:
        assert f"skipped {tasks}:{number}: option {option} must be" in result.stderr, result.stderr
    by_task = {r["input_task"]: r["provenance"]["options"] for r in logged(seeded)}
    assert sorted(by_task) == ["k as float", "k as text", "with a bom"]
    assert by_task["k as text"]["k"] == 3 and by_task["k as text"]["local_only"] is True
    assert by_task["k as text"]["label"] == "7" and by_task["k as float"]["k"] == 2


@pytest.mark.slow
def test_batches_from_several_processes_keep_every_line_whole(seeded: Layout, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        "".join(json.dumps({"task": f"task {i} " + "x" * (i * 97 % 3000)}) + "\n" for i in range(40))
    )
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lakehouse",
                "replay",
                "--tasks",
                str(tasks),
                "--root",
                str(seeded.root),
                "--dry-run",
                "--concurrency",
                "8",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
    lines = seeded.replay_runs.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is whole JSON
    assert len(records) == 120 and len({r["recorded_run_id"] for r in records}) == 120
    assert sorted(r["input_task"] for r in records) == sorted(
        json.loads(line)["task"] for line in tasks.read_text().splitlines() for _ in range(3)
    )


@pytest.mark.slow
def test_replay_succeeds_while_an_analyst_holds_the_catalog_read_only(seeded: Layout, tmp_path: Path) -> None:
    analyst = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(60)",
            str(seeded.catalog),
        ],
        stdout=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        assert analyst.stdout.readline().strip() == b"open"
        extra = tmp_path / "extra.jsonl"
        extra.write_text(
            json.dumps({"rag_id": "rag:new", "title": "New", "text": "brand new runbook"}) + "\n"
        )
        runner = CliRunner()
        added = invoke(runner, "corpus", "add", str(extra), "--root", str(seeded.root))
        assert (
            added.exit_code == 0
            and "warning: documents written, but the retrieval index is behind" in added.stderr
        )
        result = invoke(runner, "replay", TASK, "--root", str(seeded.root), "--dry-run")
        assert result.exit_code == 0, result.output
        assert "warning:" in result.stderr and "catalog mirror is behind" in result.stderr
        assert len(logged(seeded)) == 1
    finally:
        analyst.kill()
        analyst.communicate()
    synced = invoke(CliRunner(), "sync", "--root", str(seeded.root))
    assert synced.exit_code == 0, synced.output
    con = duckdb.connect(str(seeded.catalog), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM replay_runs").fetchone() == (
            1,
        )  # caught up after the analyst left
    finally:
        con.close()
    hits = invoke(CliRunner(), "corpus", "search", "brand new runbook", "--root", str(seeded.root), "--json")
    assert json.loads(hits.stdout)["results"][0]["rag_id"] == "rag:new"


def test_gateway_reconnects_when_the_server_dropped_a_kept_alive_connection(stub: StubGateway) -> None:
    stub.script["m"] = [("drop", "first"), ("drop", "second"), ("ok", "third")]
    with Gateway(stub.url) as gateway:
        results = [gateway.chat("m", "system", "user") for _ in range(3)]
    assert [(r.ok, r.content, r.error) for r in results] == [
        (True, "first", None),
        (True, "second", None),
        (True, "third", None),
    ]
    assert len(stub.requests) == 3  # each request reached the server once


def test_gateway_rejects_a_url_that_is_not_http(layout: Layout) -> None:
    with pytest.raises(UsageError, match="must be http:// or https://"):
        Gateway("ftp://example.org")


def test_labels_name_runs_in_the_log_and_the_catalog(
    runner: CliRunner, seeded: Layout, tmp_path: Path
) -> None:
    root = str(seeded.root)
    single = invoke(runner, "replay", TASK, "--dry-run", "--label", "baseline", "--root", root, "--json")
    assert single.exit_code == 0 and json.loads(single.stdout)["provenance"]["label"] == "baseline"
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps({"task": "first task"}) + "\n" + json.dumps({"task": "second task", "label": "own"}) + "\n"
    )
    batch = invoke(
        runner, "replay", "--tasks", str(tasks), "--dry-run", "--label", "candidate", "--root", root
    )
    assert batch.exit_code == 0, batch.stderr
    assert sorted(r["provenance"]["label"] for r in logged(seeded)) == ["baseline", "candidate", "own"]
    con = duckdb.connect(str(seeded.catalog), read_only=True)
    try:
        labels = dict(con.execute("SELECT input_task, label FROM replay_runs").fetchall())
    finally:
        con.close()
    assert labels == {TASK: "baseline", "first task": "candidate", "second task": "own"}
    unlabelled = invoke(runner, "replay", "another", "--dry-run", "--root", root, "--json")
    assert json.loads(unlabelled.stdout)["provenance"]["label"] is None


def test_rerun_a_label_under_a_new_model_and_compare(
    runner: CliRunner, seeded: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    root = ["--root", str(seeded.root), "--gateway-url", stub.url]
    stub.script[LOCAL] = [("ok", GROUNDED)]
    stub.script["new-model"] = [("ok", "No citation at all.")]  # the candidate model regresses every task
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"task": f"{TASK} {i}"}) + "\n" for i in range(3)))
    base = invoke(
        runner, "replay", "--tasks", str(tasks), "--local-model", LOCAL, "-k", "3", "--label", "base", *root
    )
    assert base.exit_code == 0, base.stderr
    originals = {r["recorded_run_id"]: r for r in logged(seeded)}

    rerun = invoke(runner, "replay", "--of", "label:base", "--local-model", "new-model", *root)
    assert rerun.exit_code == 1, rerun.stderr  # recorded, not passed
    reruns = [r for r in logged(seeded) if r["provenance"]["label"] == "rerun"]
    assert sorted(r["provenance"]["replay_of"] for r in reruns) == sorted(originals)
    for r in reruns:
        original = originals[r["provenance"]["replay_of"]]
        assert r["input_task"] == original["input_task"] and r["model_used"] == "new-model"
        assert r["provenance"]["options"]["k"] == 3  # recorded by the original, not the default 5
    report = json.loads(
        invoke(runner, "compare", "base", "rerun", "--format", "json", "--root", str(seeded.root)).stdout
    )
    assert (report["pairs"], report["regressions"], report["fixes"]) == (3, 3, 0)
    con = duckdb.connect(str(seeded.catalog), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM replay_runs WHERE replay_of IS NOT NULL").fetchone()[0] == 3
    finally:
        con.close()


def test_rerun_reports_unknown_ids_and_runs_the_rest(
    runner: CliRunner, seeded: Layout, stub: StubGateway
) -> None:
    stub.script[LOCAL] = [("ok", GROUNDED)]
    code, record = run_cli(runner, seeded, stub)
    assert code == 0
    result = invoke(
        runner,
        "replay",
        "--of",
        record["recorded_run_id"],
        "--of",
        "replay:nope",
        "--dry-run",
        "--root",
        str(seeded.root),
    )
    assert result.exit_code == 0, result.stderr
    assert "skipped replay:nope: no recorded run with that id or label" in result.stderr
    [again] = [r for r in logged(seeded) if r["provenance"].get("replay_of")]
    assert (
        again["provenance"]["replay_of"] == record["recorded_run_id"]
        and again["provenance"]["label"] == "rerun"
    )
    assert again["provenance"]["options"]["dry_run"] is True  # given on the command line: it wins
    nothing = invoke(runner, "replay", "--of", "label:none", "--root", str(seeded.root))
    assert nothing.exit_code == 2 and nothing.stderr.strip().startswith("error: nothing to re-run")


def test_a_run_without_provenance_is_rerun_with_the_defaults(runner: CliRunner, seeded: Layout) -> None:
    foreign = {
        "schema": "replay_run.v1",
        "input_task": "written by another tool",
        "recorded_run_id": "replay:foreign:1",
    }
    with seeded.replay_runs.open("a") as log:
        log.write(json.dumps(foreign) + "\n")
    result = invoke(runner, "replay", "--of", "replay:foreign:1", "--dry-run", "--root", str(seeded.root))
    assert result.exit_code == 0, result.stderr
    assert "1 runs recorded no options (no provenance): re-run with the defaults" in result.stderr
    [again] = [r for r in logged(seeded) if r.get("provenance", {}).get("replay_of") == "replay:foreign:1"]
    assert again["input_task"] == "written by another tool" and again["provenance"]["options"]["k"] == 5
