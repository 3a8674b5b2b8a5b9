"""Replaying what production saw: spans of the real instrumented openai client, replayed against a
candidate model, paired with the captured answers, and costed by the price table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from otlp_support import query
from stub_gateway import StubGateway
from support import invoke, lakehouse_command

pytestmark = pytest.mark.slow
AGENT = Path(__file__).resolve().parent / "otel_agent.py"
CALLS, CANDIDATE = 6, "cand-1b"
WORSE = {1, 4}  # the candidate refuses these questions
CAPTURED_PRICE, CANDIDATE_PRICE = (0.15, 0.60), (0.01, 0.02)  # USD per million input / output tokens


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root holding the agent's spans: CALLS chat calls of gpt-4o-mini (11 input, 7 output tokens each)."""
    tmp = tmp_path_factory.mktemp("traced")
    root, spans_file, logs_file = tmp / "root", tmp / "traces.jsonl", tmp / "logs.jsonl"
    root.mkdir()
    agent = subprocess.run(
        [sys.executable, str(AGENT), "--files", str(spans_file), str(logs_file), "--calls", str(CALLS)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    )
    assert agent.returncode == 0, agent.stderr
    imported = subprocess.run(
        [*lakehouse_command(), "otlp", "import", "--root", str(root), str(spans_file), str(logs_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    return root


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    with StubGateway() as gateway:
        gateway.reply_to[CANDIDATE] = lambda messages: (
            ("ok", "I can't help with that")
            if int(messages[-1]["content"].split()[-1]) in WORSE
            else ("ok", "hello from the candidate")
        )
        yield gateway


def copy_root(traced: Path, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(traced), str(root)], check=True)
    return root


def lh(runner: CliRunner, *args: str) -> object:
    return invoke(runner, *args)


def replay_spans(runner: CliRunner, selected: str, stub: StubGateway, root: str, *args: str) -> object:
    """The candidate model replaying the captured calls ``selected`` names."""
    return lh(
        runner,
        "replay",
        "--of",
        selected,
        "--local-model",
        CANDIDATE,
        "--gateway-url",
        stub.url,
        "--root",
        root,
        *args,
    )


def test_captured_calls_replay_against_a_candidate_pair_one_to_one_and_cost_by_hand(
    traced: Path, tmp_path: Path, runner: CliRunner, stub: StubGateway
) -> None:
    root = str(copy_root(traced, tmp_path))
    for model, (inp, out) in (("gpt-4o-mini", CAPTURED_PRICE), (CANDIDATE, CANDIDATE_PRICE)):
        assert (
            lh(
                runner, "prices", "set", model, "--input", str(inp), "--output", str(out), "--root", root
            ).exit_code
            == 0
        )
    spans = query(Path(root), "SELECT span_id, cost_usd FROM llm_spans ORDER BY start_time")
    assert len(spans) == CALLS
    captured_cost = (11 * CAPTURED_PRICE[0] + 7 * CAPTURED_PRICE[1]) / 1e6
    assert all(s["cost_usd"] == pytest.approx(captured_cost) for s in spans)

    selected = "spans:service = 'test-agent' AND operation = 'chat'"
    result = replay_spans(runner, selected, stub, root)
    assert result.exit_code == 1, result.stderr  # two candidate runs did not pass
    assert f"{CALLS} captured answers logged under 'captured'" in result.stderr
    sent = [r["body"]["messages"] for r in stub.requests]
    assert sorted(m[-1]["content"] for m in sent) == sorted(
        f"question {i}" for i in range(CALLS)
    )  # each once
    assert all(m[0] == {"role": "system", "content": "You are terse."} for m in sent)  # as recorded

    report = json.loads(
        lh(runner, "compare", "captured", "candidate", "--format", "json", "--root", root).stdout
    )
    assert (report["pairs"], report["unpaired"]) == (CALLS, {"base": 0, "candidate": 0})
    regressions = sorted(t["input_task"].split()[-1] for t in report["tasks"] if t["change"] == "regression")
    assert regressions == [str(i) for i in sorted(WORSE)]
    candidate_cost = (
        11 * CANDIDATE_PRICE[0] + 7 * CANDIDATE_PRICE[1]
    ) / 1e6  # the stub reports 11 and 7 tokens
    assert report["priced_pairs"] == CALLS
    assert report["base_cost_usd"] == pytest.approx(CALLS * captured_cost)
    assert report["candidate_cost_usd"] == pytest.approx(CALLS * candidate_cost)
    assert report["cost_delta_usd"] == pytest.approx(candidate_cost - captured_cost)
    low, high = report["cost_delta_ci95"]
    assert low == pytest.approx(high) == pytest.approx(candidate_cost - captured_cost)  # identical deltas
    screen = lh(runner, "compare", "captured", "candidate", "--root", root).stdout
    assert f"over {CALLS} priced pairs" in screen

    runs = [json.loads(line) for line in (Path(root) / "data/_kb/replay_runs.jsonl").read_text().splitlines()]
    span_ids = {f"span:{s['span_id']}" for s in spans}
    for label in ("captured", "candidate"):
        assert sorted(
            r["provenance"]["replay_of"] for r in runs if r["provenance"]["label"] == label
        ) == sorted(span_ids)
    captured = [r for r in runs if r["provenance"]["label"] == "captured"]
    assert {r["model_response"] for r in captured} == {"hello from the stub"}
    assert {(r["calls"][0]["model"], r["calls"][0]["prompt_tokens"]) for r in captured} == {
        ("gpt-4o-mini", 11)
    }

    # again: every span is replayed once more, its captured answer is not logged twice
    stub.requests.clear()
    again = replay_spans(runner, selected, stub, root, "--label", "candidate-2")
    assert "0 captured answers logged" in again.stderr and len(stub.requests) == CALLS
    one = lh(
        runner, "replay", "--of", f"span:{spans[0]['span_id']}", "--dry-run", "--root", root, "--label", "one"
    )
    assert one.exit_code == 0 and "1 runs: 1 passed" in one.stderr


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("span:0000000000000000", "no captured model call"),
        ("spans:service = 'nobody'", "no captured model call"),
        ("spans:no_such_column = 1", "not a condition over llm_spans"),
        ("spans:", "needs a condition"),
    ],
)
def test_a_selector_that_selects_nothing_is_one_line_and_exit_2(
    traced: Path, tmp_path: Path, runner: CliRunner, selector: str, message: str
) -> None:
    root = copy_root(traced, tmp_path)
    before = (root / "data/_kb/replay_runs.jsonl").exists()
    result = lh(runner, "replay", "--of", selector, "--dry-run", "--root", str(root))
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert (root / "data/_kb/replay_runs.jsonl").exists() == before
