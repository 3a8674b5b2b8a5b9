"""``lakehouse regate``: judge a label's recorded runs again with the current gates, calling no model.

Each recorded run of the label becomes a new run under the new label: the same task, bundle, calls
and answer (the log's, cut to its first 4,000 characters: what a re-judge sees), a new verdict, and
``provenance.regate_of`` naming the original. ``lakehouse compare OLD NEW`` then lists exactly the runs
the new gates judge differently. The answer judged is the one the run logged: the escalation's when
it answered, else the local model's; a run whose calls all failed keeps its verdict (nothing to judge).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse import gates
from lakehouse.core import outbox
from lakehouse.core.errors import UsageError
from lakehouse.core.files import append_lines, dumps
from lakehouse.core.paths import Layout
from lakehouse.replay.rerun import recorded_runs
from lakehouse.replay.runner import LOG_RESPONSE_CHARS, rfc3339_nano, sha256_hex

CHUNK = 5_000  # lines a write: a crash leaves whole lines, each the complete re-judged run


@dataclass
class RegateReport:
    runs: int = 0
    passed: int = 0
    was_passed: int = 0
    now_fail: int = 0  # passed before, not now
    now_pass: int = 0
    not_judged: int = 0  # every call failed: verdict kept
    gates_version: str = ""
    run_ids: list[str] = field(default_factory=list)


def regate(layout: Layout, label: str, new_label: str, gate_dir: Path | None) -> RegateReport:
    """Re-judge every run labelled ``label``; the new runs are labelled ``new_label``."""
    if label == new_label:
        raise UsageError("--as must name a new label (the re-judged runs must stay apart from the originals)")
    gate_set = gates.load(gate_dir)
    runs = recorded_runs(layout)
    labels = {(r.get("provenance") or {}).get("label") for r in runs.values()}
    if new_label in labels:
        raise UsageError(f"label {new_label!r} already names runs: pick a new one for --as")
    originals = [r for r in runs.values() if (r.get("provenance") or {}).get("label") == label]
    if not originals:
        known = ", ".join(sorted(str(n) for n in labels if n)) or "none yet"
        raise UsageError(f"no runs labelled {label!r} (labels: {known})")
    captured = {
        r["provenance"].get("replay_of"): r["model_response"]
        for r in runs.values()
        if (r.get("provenance") or {}).get("label") == "captured"
    }
    judged = [(r, _answer(r)) for r in originals]
    to_judge = [(r, call) for r, call in judged if call is not None]
    verdicts = gate_set.check_many([_gate_run(r, call, runs, captured) for r, call in to_judge])
    new_reasons = {id(r): reasons for (r, _), reasons in zip(to_judge, verdicts, strict=True)}

    report = RegateReport(gates_version=gate_set.version)
    lines, last_ns = [], 0
    outbox.mark(layout, "regate", ["replay_runs"])  # before any line: the lake is owed these runs
    for record, call in judged:
        last_ns = max(time.time_ns(), last_ns + 1)  # distinct run ids, also within a nanosecond
        new = _rejudged(record, call, new_reasons.get(id(record)), new_label, gate_set, gate_dir, last_ns)
        before = bool((record.get("validation_result") or {}).get("passed"))
        after = new["validation_result"]["passed"]
        report.runs += 1
        report.passed += after
        report.was_passed += before
        report.now_fail += before and not after
        report.now_pass += after and not before
        report.not_judged += call is None
        report.run_ids.append(new["recorded_run_id"])
        lines.append(dumps(new))
        if len(lines) >= CHUNK:
            append_lines(layout.replay_runs, lines)
            lines = []
    if lines:
        append_lines(layout.replay_runs, lines)
    return report


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


def _gate_run(
    record: dict[str, Any], call: dict[str, Any], runs: dict[str, dict[str, Any]], captured: dict[str, str]
) -> gates.Run:
    replay_of = (record.get("provenance") or {}).get("replay_of")
    recorded = (
        captured.get(replay_of)
        if replay_of in captured
        else (runs.get(replay_of) or {}).get("model_response")
    )
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
        if last_answered and not reasons:
            reasons = [f"recovered via escalation to {calls[-1].get('model')}"]
        elif escalated and not last_answered and reasons:
            reasons = [*reasons, f"escalation also failed: {calls[-1].get('error')}"]
        validation = {"passed": not reasons or reasons[0].startswith("recovered via"), "reasons": reasons}
        if calls:
            calls[-1 if last_answered else 0]["gate_reasons"] = [
                r for r in reasons if not r.startswith("recovered via")
            ]
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
