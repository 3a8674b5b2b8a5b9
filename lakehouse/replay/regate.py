"""``lakehouse regate``: judge a label's recorded runs again with the current gates, calling no model.

Each recorded run of the label becomes a new run under the new label (a regate that was interrupted
resumes: the same command re-judges only the runs it had not reached): the same task, bundle, calls
and answer (the log's, cut to its first 4,000 characters: what a re-judge sees), a new verdict, and
``provenance.regate_of`` naming the original. ``lakehouse compare OLD NEW`` then lists exactly the runs
the new gates judge differently. The answer judged is the one the run logged: the escalation's when
it answered, else the local model's; a run whose calls all failed keeps its verdict (nothing to judge).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from lakehouse import gates
from lakehouse.core import outbox
from lakehouse.core.errors import UsageError
from lakehouse.core.files import append_lines
from lakehouse.core.paths import Layout
from lakehouse.replay.captured import CAPTURED_LABEL
from lakehouse.replay.rerun import log_runs, provenance_of
from lakehouse.replay.runner import LOG_RESPONSE_CHARS, rfc3339_nano, sha256_hex

CHUNK = 5_000  # runs judged and written at a time; a crash leaves whole lines, and the next regate resumes


@dataclass
class RegateReport:
    runs: int = 0
    passed: int = 0
    was_passed: int = 0
    now_fail: int = 0  # passed before, not now
    now_pass: int = 0
    not_judged: int = 0  # every call failed: verdict kept
    resumed: int = 0  # re-judged as NEW by an earlier, interrupted regate: not again
    gates_version: str = ""
    raised: Counter[str] = field(default_factory=Counter)  # gate -> runs it raised on (a bug in the gate?)


def regate(layout: Layout, label: str, new_label: str, gate_dir: Path | None) -> RegateReport:
    """Re-judge every run labelled ``label``; the new runs are labelled ``new_label``."""
    if label == new_label:
        raise UsageError("--as must name a new label (the re-judged runs must stay apart from the originals)")
    gate_set = gates.load(gate_dir)
    log = _scan(layout, label, new_label)
    if not log.originals:
        known = ", ".join(sorted(log.labels)) or "none yet"
        raise UsageError(f"no runs labelled {label!r} (labels: {known})")
    ids = {r["recorded_run_id"] for r in log.originals}
    if new_label in log.labels and not (
        log.done.keys() <= ids and set(log.done.values()) == {gate_set.version}
    ):  # NEW may only be an unfinished re-judge of the same label by the same gates (a crash's): it resumes
        raise UsageError(f"label {new_label!r} already names runs: pick a new one for --as")
    originals = [r for r in log.originals if r["recorded_run_id"] not in log.done]
    report = RegateReport(gates_version=gate_set.version, resumed=len(log.done))
    with outbox.owing(layout, "regate", ["replay_runs"]):  # before any line: the lake is owed these runs
        last_ns = 0
        for start in range(0, len(originals), CHUNK):  # judged and written a chunk at a time: bounded memory
            judged = [(r, _answer(r)) for r in originals[start : start + CHUNK]]
            to_judge = [(r, call) for r, call in judged if call is not None]
            verdicts = gate_set.check_many([_gate_run(r, call, log) for r, call in to_judge])
            for reasons in verdicts:
                report.raised.update(gates.raised_by(reasons))
            new_reasons = {id(r): reasons for (r, _), reasons in zip(to_judge, verdicts, strict=True)}
            lines = []
            for record, call in judged:
                last_ns = max(time.time_ns(), last_ns + 1)  # distinct run ids, also within a nanosecond
                new = _rejudged(
                    record, call, new_reasons.get(id(record)), new_label, gate_set, gate_dir, last_ns
                )
                _count(report, record, new, call)
                lines.append(orjson.dumps(new).decode())
            append_lines(layout.replay_runs, lines)
    return report


def _count(
    report: RegateReport, record: dict[str, Any], new: dict[str, Any], call: dict[str, Any] | None
) -> None:
    before = bool((record.get("validation_result") or {}).get("passed"))
    after = new["validation_result"]["passed"]
    report.runs += 1
    report.passed += after
    report.was_passed += before
    report.now_fail += before and not after
    report.now_pass += after and not before
    report.not_judged += call is None


def _answer(record: dict[str, Any]) -> dict[str, Any] | None:
    """The call whose answer the run logged (None: every call failed)."""
    calls = [c for c in record.get("calls") or [] if isinstance(c, dict)]
    if not calls:  # written without calls: the logged answer is the model's unless its call failed
        reasons = (record.get("validation_result") or {}).get("reasons") or []
        failed = any(str(r).startswith("local call failed") for r in reasons)
        return None if failed else {"model": record.get("model_used")}
    if calls[-1].get("ok"):
        return calls[-1]
    return calls[0] if calls[0].get("ok") else None


def _gate_run(record: dict[str, Any], call: dict[str, Any], log: _Log) -> gates.Run:
    replay_of = (record.get("provenance") or {}).get("replay_of")
    recorded = log.captured.get(replay_of) if replay_of in log.captured else log.responses.get(replay_of)
    bundle = record.get("context_bundle") or {}
    rag_ids = (
        ((record.get("retrieved_artifacts") or {}).get("rag_ids") or [])
        if bundle.get("retrieved_playbooks")
        else []
    )
    return gates.Run(
        task=str(record.get("input_task") or ""),
        response=str(record.get("model_response") or ""),
        rag_ids=tuple(rag_ids),
        model=call.get("model"),
        prompt_tokens=call.get("prompt_tokens"),
        completion_tokens=call.get("completion_tokens"),
        latency_ms=call.get("latency_ms"),
        recorded_response=None if recorded is None else str(recorded)[:LOG_RESPONSE_CHARS],
    )


@dataclass
class _Log:
    """What a re-judge needs of the log, in one pass: the label's runs whole; of every run only its
    answer (what a re-run's gates hold it against) and label; the captured answers by span."""

    originals: list[dict[str, Any]] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    responses: dict[str, str] = field(default_factory=dict)
    captured: dict[str, str] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)  # runs already re-judged as NEW -> by which gates


def _scan(layout: Layout, label: str, new_label: str) -> _Log:
    log = _Log()
    for record in log_runs(layout):
        provenance = provenance_of(record)
        run_label = provenance.get("label")
        if isinstance(run_label, str):
            log.labels.add(run_label)
        response = str(record.get("model_response") or "")
        log.responses[record["recorded_run_id"]] = response
        if run_label == label:
            log.originals.append(record)
        elif run_label == new_label:
            log.done[str(provenance.get("regate_of"))] = str(provenance.get("gates_version"))
        elif run_label == CAPTURED_LABEL and isinstance(provenance.get("replay_of"), str):
            log.captured[provenance["replay_of"]] = response
    return log


def _rejudged(
    record: dict[str, Any],
    call: dict[str, Any] | None,
    reasons: list[str] | None,
    new_label: str,
    gate_set: gates.GateSet,
    gate_dir: Path | None,
    ns: int,
) -> dict[str, Any]:
    calls = [dict(c) for c in record.get("calls") or [] if isinstance(c, dict)]
    validation = dict(record.get("validation_result") or {"passed": False, "reasons": []})
    if call is not None and reasons is not None:
        escalated = len(calls) > 1
        last_answered = escalated and calls[-1].get("ok")
        passed = not reasons
        if calls:
            calls[-1 if last_answered else 0]["gate_reasons"] = list(reasons)
        if passed and last_answered:  # the seed's wording for an escalation that recovered
            reasons = [f"recovered via escalation to {calls[-1].get('model')}"]
        elif not passed and escalated and not last_answered:
            reasons = [*reasons, f"escalation also failed: {calls[-1].get('error')}"]
        validation = {"passed": passed, "reasons": reasons}
    recorded_at = rfc3339_nano(ns)
    provenance = dict(record.get("provenance") or {})
    options = dict(provenance.get("options") or {})
    options["gates"] = None if gate_dir is None else str(Path(gate_dir).expanduser().resolve())
    provenance.update(
        label=new_label,
        regate_of=record.get("recorded_run_id"),
        gates_version=gate_set.version,
        options=options,
    )
    task_hash = record.get("task_hash") or sha256_hex(str(record.get("input_task") or ""))
    new = {k: v for k, v in record.items() if k != "judge_calls"}
    new.update(
        validation_result=validation,
        recorded_run_id=f"replay:{task_hash[:16]}:{sha256_hex(recorded_at)[:12]}",
        recorded_at=recorded_at,
        calls=calls,
        provenance=provenance,
    )
    return new
