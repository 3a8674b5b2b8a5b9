"""lakehouse regate: the recorded runs of a label judged again by the current gates, with no model call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from stub_gateway import StubGateway
from support import invoke

from lakehouse.core.paths import Layout
from lakehouse.replay import regate as regate_module

pytestmark = pytest.mark.fast

LOCAL, STRONG = "local-7b", "strong-70b"
ROLLBACK = "/* An answer must say how to roll back. */\nSELECT 'no rollback plan' AS reason FROM run WHERE response NOT ILIKE '%rollback%'\n"


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    with StubGateway() as gateway:
        yield gateway


def answer(messages: list[dict]) -> tuple:
    """Tasks ending in an even number get a rollback plan; task 7 is refused (it escalates)."""
    task = messages[-1]["content"].split("Task:\n")[-1].split("\n")[0]
    number = int(task.split()[-1])
    if number == 7:
        return ("ok", "I can't do that")
    return ("ok", f"deploy {number}" + (", with a rollback step" if number % 2 == 0 else ""))


def runs(layout: Layout) -> list[dict]:
    return [json.loads(line) for line in layout.replay_runs.read_text().splitlines()]


@pytest.fixture
def history(runner: CliRunner, layout: Layout, stub: StubGateway, tmp_path: Path) -> Layout:
    stub.reply_to[LOCAL] = answer
    stub.script[STRONG] = [("ok", "deploy 7 after all")]
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"task": f"ship service {i}"}) + "\n" for i in range(10)))
    result = invoke(
        runner,
        "replay",
        "--tasks",
        str(tasks),
        "--root",
        str(layout.root),
        "--gateway-url",
        stub.url,
        "--local-model",
        LOCAL,
        "--escalation-model",
        STRONG,
        "--allow-escalation",
        "--no-retrieval",
        "--label",
        "base",
    )
    assert result.exit_code == 0, result.stderr  # all pass the built-in gates (task 7 after escalating)
    stub.requests.clear()
    return layout


def regate(runner: CliRunner, layout: Layout, *args: str) -> object:
    return invoke(runner, "regate", "--root", str(layout.root), *args)


def compare(runner: CliRunner, layout: Layout, base: str, candidate: str) -> dict:
    result = invoke(runner, "compare", base, candidate, "--format", "json", "--root", str(layout.root))
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_stricter_gate_fails_exactly_the_runs_it_should_and_calls_no_model(
    runner: CliRunner, history: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "rollback.sql").write_text(ROLLBACK)
    spend = ["query", "token_spend_by_model_and_day", "--format", "jsonl", "--root", str(history.root)]
    spent_before = invoke(runner, *spend).stdout
    result = regate(runner, history, "--label", "base", "--gates", str(gates), "--as", "strict")
    assert result.exit_code == 0, result.stderr
    assert invoke(runner, *spend).stdout == spent_before  # a re-judge spends no tokens
    assert "10 runs of 'base' re-judged as 'strict'" in result.stderr and "5 now fail" in result.stderr
    assert "warning" not in result.stderr  # the gate judged every run
    assert stub.requests == []  # nothing was sent to the gateway
    report = compare(runner, history, "base", "strict")
    failing = sorted(t["input_task"] for t in report["tasks"] if t["change"] == "regression")
    assert failing == [f"ship service {i}" for i in (1, 3, 5, 7, 9)]
    assert (report["fixes"], report["pairs"]) == (0, 10)
    assert report["gates_versions"]["base"] == ["gates.v1"] and report["gates_versions"]["candidate"][
        0
    ].startswith("gates.v1+")
    assert not any(t["answer_changed"] for t in report["tasks"])

    originals = {r["recorded_run_id"]: r for r in runs(history) if r["provenance"]["label"] == "base"}
    rejudged = [r for r in runs(history) if r["provenance"]["label"] == "strict"]
    assert sorted(r["provenance"]["regate_of"] for r in rejudged) == sorted(originals)
    for new in rejudged:
        old = originals[new["provenance"]["regate_of"]]
        assert (new["model_response"], new["escalation_path"], new["input_task"]) == (
            old["model_response"],
            old["escalation_path"],
            old["input_task"],
        )
        assert [{**c, "gate_reasons": None} for c in new["calls"]] == [
            {**c, "gate_reasons": None} for c in old["calls"]
        ]
    escalated = next(r for r in rejudged if r["input_task"] == "ship service 7")
    assert escalated["validation_result"] == {"passed": False, "reasons": ["no rollback plan"]}


def test_a_gate_that_raises_instead_of_judging_is_named_with_how_many_runs(
    runner: CliRunner, history: Layout, tmp_path: Path
) -> None:
    """A gate written for answers that end in a number raises on those that do not (a cast of ''): each
    such run fails with the gate's error as its reason, and regate warns, so a bug in a new gate does not
    pass for a verdict."""
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "rollback.sql").write_text(ROLLBACK)
    (gates / "odd.sql").write_text(
        "/* Odd-numbered deploys are refused. */\n"
        "SELECT 'odd' AS reason FROM run WHERE CAST(regexp_extract(response, '[0-9]+$') AS INTEGER) % 2 = 1\n"
    )
    result = regate(runner, history, "--label", "base", "--gates", str(gates), "--as", "odd")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # 0, 2, 4, 6, 8 end in ', with a rollback step', 7 in 'after all': six answers with no number at the end
    assert warnings == [
        "warning: gate 'odd' raised on 6 of 10 runs instead of judging them (their reason says "
        "'odd: the gate failed: ...'): fix it, then regate under a new --as"
    ]
    reasons = {
        r["input_task"]: r["validation_result"]["reasons"]
        for r in runs(history)
        if r["provenance"]["label"] == "odd"
    }
    assert reasons["ship service 1"] == ["odd", "no rollback plan"]  # file-name order
    assert any(reason.startswith("odd: the gate failed: ") for reason in reasons["ship service 2"])


def test_a_batch_replay_names_a_gate_that_raised_too(
    runner: CliRunner, layout: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    stub.reply_to[LOCAL] = answer
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "numeric.sql").write_text(
        "/* Answers are numbers. */\nSELECT 'too small' AS reason FROM run WHERE CAST(response AS INTEGER) < 3\n"
    )
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"task": f"ship service {i}"}) + "\n" for i in range(4)))
    result = invoke(runner, "replay", "--tasks", str(tasks), "--gates", str(gates), "--root", str(layout.root),
                    "--gateway-url", stub.url, "--local-model", LOCAL, "--no-retrieval")  # fmt: skip
    assert result.exit_code == 1  # recorded, not passed
    assert "warning: gate 'numeric' raised on 4 of 4 runs instead of judging them" in result.stderr
    assert "then replay again" in result.stderr and "4 runs: 0 passed" in result.stderr


def test_the_same_gates_judge_the_same_and_escalation_keeps_its_reason(
    runner: CliRunner, history: Layout
) -> None:
    assert regate(runner, history, "--label", "base", "--as", "again").exit_code == 0
    report = compare(runner, history, "base", "again")
    assert (report["regressions"], report["fixes"], report["unchanged_pass"]) == (0, 0, 10)
    recovered = next(
        r
        for r in runs(history)
        if r["provenance"]["label"] == "again" and r["input_task"] == "ship service 7"
    )
    assert recovered["validation_result"] == {
        "passed": True,
        "reasons": [f"recovered via escalation to {STRONG}"],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "nope", "--as", "x"], "no runs labelled 'nope' (labels: base)"),
        (["--label", "base", "--as", "base"], "--as must name a new label"),
        (["--label", "base", "--as", "base-2", "--gates", "JUDGES"], "calls no model"),
    ],
)
def test_what_regate_refuses(
    runner: CliRunner, history: Layout, tmp_path: Path, args: list[str], message: str
) -> None:
    judges = tmp_path / "judges"
    judges.mkdir()
    (tmp_path / "strict").mkdir()
    (tmp_path / "strict" / "rollback.sql").write_text(ROLLBACK)
    (judges / "nice.judge.md").write_text("model: j\nBe nice.\n")
    args = [str(judges) if a == "JUDGES" else a for a in args]
    before = history.replay_runs.read_bytes()
    result = regate(runner, history, *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert history.replay_runs.read_bytes() == before
    assert regate(runner, history, "--label", "base", "--as", "twice").exit_code == 0
    done = history.replay_runs.read_bytes()
    again = regate(runner, history, "--label", "base", "--as", "twice")  # finished: nothing left to do
    assert again.exit_code == 0 and "0 runs" in again.stderr and history.replay_runs.read_bytes() == done
    other = regate(
        runner, history, "--label", "base", "--as", "twice", "--gates", str(judges.parent / "strict")
    )
    assert other.exit_code == 2 and "already names runs" in other.stderr  # other gates: another label


def test_an_interrupted_regate_resumes_and_ends_exactly_like_an_uninterrupted_one(
    runner: CliRunner, history: Layout, tmp_path: Path
) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "rollback.sql").write_text(ROLLBACK)
    lines_before = len(history.replay_runs.read_text().splitlines())
    regate_module.regate(history, "base", "strict", gates)
    log = history.replay_runs.read_text().splitlines(keepends=True)
    history.replay_runs.write_text("".join(log[: lines_before + 4]))  # killed after writing 4 of its 10 runs
    result = regate(runner, history, "--label", "base", "--gates", str(gates), "--as", "strict")
    assert result.exit_code == 0 and "6 runs" in result.stderr and "4 re-judged before" in result.stderr
    rejudged = [r for r in runs(history) if r["provenance"]["label"] == "strict"]
    originals = [r["recorded_run_id"] for r in runs(history) if r["provenance"]["label"] == "base"]
    assert sorted(r["provenance"]["regate_of"] for r in rejudged) == sorted(originals)  # each exactly once
    report = compare(runner, history, "base", "strict")
    assert report["regressions"] == 5 and report["pairs"] == 10
