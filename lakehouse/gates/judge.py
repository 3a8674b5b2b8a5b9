"""Judge gates: a judge model, asked through the gateway with the rubric, the task and the answer.

The judge's answer's first word decides: ``PASS`` passes, ``FAIL`` fails with the rest of the line as
the reason; anything else fails the run with a reason that says the verdict was unreadable, and so
does a judge call that fails. In a dry run the judge is a deterministic stand-in that calls nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lakehouse.gates.files import Gate
from lakehouse.gates.run import Run
from lakehouse.gateway import CallResult

Caller = Callable[[str, str, str], CallResult]
INSTRUCTIONS = (
    "You judge an assistant's answer by the rubric above. Reply with one line: PASS or FAIL as its first "
    "word, then the reason."
)
DRY_RUN_VERDICT = "PASS (dry run: no judge was called)"


def prompt(gate: Gate, run: Run) -> tuple[str, str]:
    """The judge's system and user prompt."""
    user = [f"Task:\n{run.task}", f"Answer to judge:\n{run.response}"]
    if run.recorded_response is not None:
        user.append(f"Recorded answer (what was answered before):\n{run.recorded_response}")
    return f"{gate.rubric}\n\n{INSTRUCTIONS}", "\n\n".join(user)


def dry_run_caller(model: str, _system: str, _user: str) -> CallResult:
    return CallResult(model=model, ok=True, content=DRY_RUN_VERDICT)


def judge(gate: Gate, run: Run, caller: Caller) -> tuple[list[str], dict[str, Any]]:
    """The reasons the judge fails the run for (none when it passes), and the judge call's record."""
    system, user = prompt(gate, run)
    call = caller(gate.model, system, user)
    record: dict[str, Any] = {"gate": gate.name, **call.to_json(), "verdict": None}
    del record["gate_reasons"]
    if not call.ok:
        return [f"{gate.name}: judge call failed: {call.error}"], record
    verdict, reason = parse(call.content)
    record["verdict"] = verdict
    if verdict == "PASS":
        return [], record
    if verdict == "FAIL":
        return [f"{gate.name}: {reason or 'FAIL'}"], record
    first_line = call.content.strip().splitlines()[0] if call.content.strip() else ""
    return [f"{gate.name}: the judge answered neither PASS nor FAIL: {first_line[:120]!r}"], record


def parse(content: str) -> tuple[str | None, str]:
    """(PASS | FAIL | None, the rest of the first line)."""
    text = content.strip()
    if not text:
        return None, ""
    first_line = text.splitlines()[0].strip()
    word, _, rest = first_line.partition(" ")
    word = word.strip("*_`\"'.,:;!-").upper()
    if word not in ("PASS", "FAIL"):
        return None, ""
    return word, rest.strip().lstrip(":-—.,").strip()
