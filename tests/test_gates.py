"""Gates as files (PRODUCT.md §12): the built-in four unchanged, a user's SQL and judge gates, against the stub."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from stub_gateway import StubGateway
from support import invoke

from lakehouse import gates
from lakehouse.core.paths import Layout
from lakehouse.core.types import ContextBundle, RetrievedPlaybook
from lakehouse.gates import files

pytestmark = pytest.mark.fast

LOCAL, JUDGE = "local-7b", "judge-70b"
# The hash of the built-in gate files: a change to any of them fails this test until it is looked at.
# A change of what they judge must also change files.BUILTIN_VERSION (runs judged before and after would
# carry the same gates_version otherwise); one that keeps it (speed) must still pass the reference test below.
BUILTIN_SHA256 = "7885dac555eddc082308e819155f9f60cd250ec801e7918106cb752fa8fd1d31"

USER_GATES = {
    "valid_json.sql": "/* The answer is JSON. */\nSELECT 'not JSON' AS reason FROM run WHERE NOT json_valid(response)",
    "has_status.sql": (
        "/* The JSON answer has a status field. */\n"
        "SELECT 'no $.status' AS reason FROM run WHERE json_valid(response) AND json_extract(response, '$.status') IS NULL;"
    ),
    "no_internal_hosts.sql": (
        "/* No internal hostnames. */\n"
        "SELECT 'internal hostname: ' || regexp_extract(response, '[a-z0-9-]+\\.corp\\.internal') AS reason\n"
        "FROM run WHERE regexp_matches(response, '[a-z0-9-]+\\.corp\\.internal')"
    ),
    "short.sql": (
        "/* At most 12 words. */\n"
        "SELECT 'over 12 words: ' || len(string_split(trim(response), ' ')) AS reason FROM run\n"
        "WHERE len(string_split(trim(response), ' ')) > 12  -- a budget"
    ),
    "fast.sql": "/* Answered within 300 ms. */\nSELECT 'slower than 300 ms' AS reason FROM run WHERE latency_ms > 300",
    "agrees.sql": (
        "/* Agrees with the recorded answer (when there is one). */\n"
        "SELECT 'disagrees with the recorded answer' AS reason FROM run\n"
        "WHERE recorded_response IS NOT NULL AND jaccard(response, recorded_response) < 0.5"
    ),
}


def reference_validate(response: str, bundle: ContextBundle | None) -> list[str]:
    """The gates as they were written before they became files (the seed's port), verbatim."""
    citation = re.compile(r"rag:[A-Za-z0-9_.\-]+")
    refusals = re.compile(
        r"\b(i can['’]?t|i cannot|i can not|i['’]m unable|i am unable|i won['’]?t|as an ai\b|as a language model)",
        re.IGNORECASE,
    )
    reasons: list[str] = []
    if not response.strip():
        reasons.append("empty response")
    else:
        refusal = refusals.search(response)
        if refusal:
            reasons.append(f"refusal: response says {refusal.group(0)!r}")
    if bundle is not None and bundle.retrieved_playbooks:
        retrieved = set(bundle.rag_ids)
        seen: dict[str, None] = {}
        for match in citation.findall(response):
            seen[match.rstrip(".-")] = None
        cited = list(seen)
        if not any(c in retrieved for c in cited):
            reasons.append("response cites no retrieved rag_id")
        unknown = [c for c in cited if c not in retrieved]
        if unknown:
            reasons.append("response cites rag_ids that were not retrieved: " + ", ".join(unknown))
    return reasons


@pytest.fixture
def stub() -> Iterator[StubGateway]:
    with StubGateway() as gateway:
        yield gateway


def gate_dir(tmp_path: Path, contents: dict[str, str], name: str = "gates") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    for file_name, text in contents.items():
        (directory / file_name).write_text(text)
    return directory


def replay(
    runner: CliRunner, layout: Layout, stub: StubGateway, *args: str, task: str = "report the status"
) -> tuple[int, dict]:
    result = invoke(
        runner,
        "replay",
        task,
        "--root",
        str(layout.root),
        "--gateway-url",
        stub.url,
        "--local-model",
        LOCAL,
        "--no-retrieval",
        "--json",
        *args,
    )
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_the_builtin_gate_files_are_pinned_to_their_version_name() -> None:
    digest = files.files_sha256(files.builtin_files())
    assert [g.name for g in files.builtin()] == [
        "empty_response",
        "refusal",
        "cites_retrieved",
        "cites_only_retrieved",
    ]
    assert digest == BUILTIN_SHA256, (
        f"the built-in gates changed ({digest}): bump files.BUILTIN_VERSION and this pin"
    )


playbook_ids = st.sampled_from(["rag:a", "rag:b-1", "rag:c.d", "rag:x"])
answers = st.lists(
    st.one_of(
        st.text(max_size=20),
        playbook_ids,
        playbook_ids.map(lambda r: f"[{r}]"),
        playbook_ids.map(lambda r: f"{r}."),
        st.sampled_from(
            [
                "I can't",
                "I CANNOT",
                "as an AI",
                "I’m unable",
                "I won’t",
                "scan't",
                "  ",
                "\n",
                "İ can't",
                "éi cannot",
                "AS A LANGUAGE MODEL",
            ]
        ),
    ),
    max_size=6,
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(response=answers, retrieved=st.lists(playbook_ids, max_size=3, unique=True), with_bundle=st.booleans())
def test_the_builtin_gates_as_files_judge_exactly_as_the_seed_port_did(
    response: str, retrieved: list[str], with_bundle: bool
) -> None:
    bundle = None
    if with_bundle:
        bundle = ContextBundle("t", [RetrievedPlaybook(r, "", "", 1.0) for r in retrieved])
    rag_ids = tuple(bundle.rag_ids) if bundle is not None and bundle.retrieved_playbooks else ()
    assert gates.load().check(gates.Run("t", response, rag_ids)).reasons == reference_validate(
        response, bundle
    )


CASES = [  # answer -> the reasons the user's gates give it
    ('{"status": "ok"}', []),
    ("plain words", ["not JSON"]),
    ('{"result": 1}', ["no $.status"]),
    ('{"status": "down", "host": "db-3.corp.internal"}', ["internal hostname: db-3.corp.internal"]),
    (json.dumps({"status": " ".join(["word"] * 20)}), ["over 12 words: 21"]),
]


@pytest.mark.parametrize(("answer", "reasons"), CASES)
def test_each_sql_gate_passes_and_fails_a_replay_on_crafted_answers(
    answer: str, reasons: list[str], runner: CliRunner, layout: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    directory = gate_dir(tmp_path, USER_GATES)
    stub.script[LOCAL] = [("ok", answer)]
    code, record = replay(runner, layout, stub, "--gates", str(directory))
    assert record["validation_result"] == {"passed": not reasons, "reasons": reasons}
    assert code == (0 if not reasons else 1)
    assert (
        record["provenance"]["gates_version"]
        == f"gates.v1+{files.files_sha256(files.user_files(directory))[:16]}"
    )
    assert record["provenance"]["options"]["gates"] == str(directory.resolve())


def test_a_latency_budget_and_agreement_with_the_recorded_answer(
    runner: CliRunner, layout: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    directory = gate_dir(tmp_path, USER_GATES)
    stub.script[LOCAL] = [("sleep", 0.5, '{"status": "ok"}')]
    _, slow = replay(runner, layout, stub, "--gates", str(directory), "--label", "first")
    assert slow["validation_result"]["reasons"] == ["slower than 300 ms"]
    # re-run it: the recorded answer is now there to agree with; a different answer disagrees
    stub.script[LOCAL] = [("ok", "[1]")]
    result = invoke(runner, "replay", "--of", slow["recorded_run_id"], "--root", str(layout.root))
    assert result.exit_code == 1, result.stderr
    rerun = json.loads(layout.replay_runs.read_text().splitlines()[-1])
    assert rerun["validation_result"]["reasons"] == ["disagrees with the recorded answer", "no $.status"]
    assert rerun["provenance"]["options"]["gates"] == str(
        directory.resolve()
    )  # the re-run used the same gates


def test_a_judge_gate_asks_the_judge_and_reads_its_verdict(
    runner: CliRunner, layout: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    directory = gate_dir(
        tmp_path, {"polite.judge.md": f"model: {JUDGE}\nThe answer must be polite and concrete.\n"}
    )
    stub.script[LOCAL] = [("ok", "Restart the worker.")]
    stub.script[JUDGE] = [
        ("ok", "PASS: concrete and polite"),
        ("ok", "FAIL — it is curt"),
        ("ok", "I think it is fine"),
        ("status", 500, "judge down"),
    ]
    verdicts = [replay(runner, layout, stub, "--gates", str(directory))[1] for _ in range(4)]
    assert [v["validation_result"]["reasons"] for v in verdicts] == [
        [],
        ["polite: it is curt"],
        ["polite: the judge answered neither PASS nor FAIL: 'I think it is fine'"],
        ["polite: judge call failed: HTTP 500 from gateway: judge down"],
    ]
    asked = [r["body"] for r in stub.requests if r["body"]["model"] == JUDGE]
    assert len(asked) == 4
    assert asked[0]["messages"][0]["content"].startswith("The answer must be polite and concrete.")
    assert (
        "Restart the worker." in asked[0]["messages"][1]["content"]
        and "report the status" in asked[0]["messages"][1]["content"]
    )
    assert [v["judge_calls"][0]["verdict"] for v in verdicts] == ["PASS", "FAIL", None, None]
    assert (
        verdicts[0]["judge_calls"][0]["model"] == JUDGE and verdicts[0]["judge_calls"][0]["gate"] == "polite"
    )


def test_a_judge_gate_in_a_dry_run_calls_nothing_and_is_deterministic(
    runner: CliRunner, layout: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    directory = gate_dir(tmp_path, {"polite.judge.md": f"model: {JUDGE}\nBe polite.\n"})
    runs = [replay(runner, layout, stub, "--gates", str(directory), "--dry-run")[1] for _ in range(2)]
    assert stub.requests == []
    assert [r["validation_result"] for r in runs] == [{"passed": True, "reasons": []}] * 2
    assert runs[0]["judge_calls"][0]["verdict"] == "PASS"


def test_a_gate_that_raises_on_an_answer_fails_that_run_with_the_error(
    runner: CliRunner, layout: Layout, stub: StubGateway, tmp_path: Path
) -> None:
    directory = gate_dir(
        tmp_path,
        {
            "count.sql": "/* A count. */\nSELECT 'too few' AS reason FROM run WHERE CAST(response AS INTEGER) < 3"
        },
    )
    stub.script[LOCAL] = [("ok", "seven")]
    code, record = replay(runner, layout, stub, "--gates", str(directory))
    assert code == 1
    (reason,) = record["validation_result"]["reasons"]
    assert reason.startswith("count: the gate failed: Conversion Error")


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ({"a.sql": "SELECT 'x' AS reason FROM run"}, "start it with a /* purpose */ comment"),
        ({"a.sql": "/* p */ SELECT 'x' AS why FROM run"}, "reason"),
        ({"a.sql": "/* p */ SELEC 'x' AS reason FROM run"}, "syntax error"),
        ({"a.sql": "/* p */ SELECT 1 AS reason; DROP TABLE run"}, "one SELECT only"),
        ({"a.judge.md": "Be nice.\n"}, "model: NAME"),
        ({"a.judge.md": "model: x\n\n"}, "no rubric"),
        ({"refusal.sql": "/* p */ SELECT 'x' AS reason FROM run WHERE false"}, "unique"),
        ({"notes.txt": "nothing"}, "no gate files"),
    ],
)
def test_a_malformed_gate_is_one_line_and_exit_2(
    contents: dict[str, str],
    message: str,
    runner: CliRunner,
    layout: Layout,
    stub: StubGateway,
    tmp_path: Path,
) -> None:
    directory = gate_dir(tmp_path, contents)
    result = invoke(runner, "replay", "x", "--root", str(layout.root), "--dry-run", "--gates", str(directory))
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not layout.replay_runs.exists()


def test_the_gates_version_follows_the_files(tmp_path: Path) -> None:
    directory = gate_dir(tmp_path, {"a.sql": USER_GATES["valid_json.sql"]})
    first = gates.load(directory).version
    (directory / "a.sql").write_text(USER_GATES["valid_json.sql"] + " AND true")
    assert gates.load(directory).version != first and gates.load().version == "gates.v1"


def test_a_tasks_line_carries_its_own_gates(runner: CliRunner, layout: Layout, tmp_path: Path) -> None:
    strict = gate_dir(tmp_path, {"never.sql": "/* Fails every answer. */\nSELECT 'never' AS reason FROM run"})
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps({"task": "a"}) + "\n" + json.dumps({"task": "b", "gates": str(strict)}) + "\n"
    )
    result = invoke(
        runner, "replay", "--tasks", str(tasks), "--dry-run", "--no-retrieval", "--root", str(layout.root)
    )
    assert result.exit_code == 1
    verdicts = {
        r["input_task"]: r["validation_result"]
        for r in map(json.loads, layout.replay_runs.read_text().splitlines())
    }
    assert verdicts == {"a": {"passed": True, "reasons": []}, "b": {"passed": False, "reasons": ["never"]}}
