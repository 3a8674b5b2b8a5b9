"""Replaying what production saw: captured model calls (``llm_spans`` rows) as runs (PRODUCT.md §12).

Each captured call becomes two runs with the same task (its messages as text, so ``compare`` pairs
them by task): the captured answer itself, judged by the gates and logged once under the label
``captured`` with no model call, and a request that sends the recorded messages, as recorded, to the
candidate model. Both carry ``provenance.replay_of = "span:<span_id>"``. Only the text of messages is
replayed (tool calls and other parts are not).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from lakehouse import __version__, gates
from lakehouse.core import outbox
from lakehouse.core.files import append_lines, dumps
from lakehouse.core.paths import Layout
from lakehouse.gates import judge
from lakehouse.gateway import CallResult
from lakehouse.replay.prompt import messages_sha256
from lakehouse.replay.rerun import log_runs, provenance_of
from lakehouse.replay.runner import LOG_RESPONSE_CHARS, SCHEMA, ReplayRequest, rfc3339_nano, sha256_hex

CAPTURED_LABEL = "captured"


def logged_spans(layout: Layout) -> set[str]:
    """The spans whose captured answer the log already holds (``provenance.replay_of`` of ``captured`` runs)."""
    return {
        str(provenance_of(r).get("replay_of"))
        for r in log_runs(layout)
        if provenance_of(r).get("label") == CAPTURED_LABEL
    }


def span_key(span: dict[str, Any]) -> str:
    return f"span:{span['span_id']}"


def chat_messages(messages: list[Any]) -> list[dict[str, str]]:
    """GenAI-shaped messages (``{"role", "parts": [...]}`` or ``{"role", "content"}``) as chat messages."""
    chat = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = message_text(message)
        if text:
            chat.append({"role": str(message.get("role") or "user"), "content": text})
    return chat


def message_text(message: dict[str, Any]) -> str:
    if isinstance(message.get("content"), str):
        return message["content"]
    parts = message.get("parts") if isinstance(message.get("parts"), list) else []
    return "\n".join(
        str(p.get("content"))
        for p in parts
        if isinstance(p, dict) and p.get("type", "text") == "text" and p.get("content") is not None
    )


def task_of(messages: list[dict[str, str]]) -> str:
    """The run's task: the captured messages as text, one ``role: content`` a message."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def captured_answer(span: dict[str, Any]) -> str:
    return "\n".join(
        message_text(m) for m in span["output_messages"] if isinstance(m, dict) and message_text(m)
    )


def request_for(span: dict[str, Any], template: ReplayRequest) -> ReplayRequest | None:
    """The candidate's request for a captured call (None: the span captured no message text)."""
    messages = chat_messages(span["input_messages"])
    if not messages:
        return None
    return replace(
        template,
        task=task_of(messages),
        no_retrieval=True,
        messages=messages,
        replay_of=span_key(span),
        recorded_response=captured_answer(span)[:LOG_RESPONSE_CHARS],
    )


def log_captured(
    layout: Layout,
    spans: list[dict[str, Any]],
    logged: set[str],
    gate_set: gates.GateSet,
    judge_caller: judge.Caller,
) -> int:
    """Log each captured answer not logged before under the label ``captured``; returns how many."""
    lines = []
    last_ns = 0
    for span in spans:
        messages = chat_messages(span["input_messages"])
        if not messages or span_key(span) in logged:
            continue
        last_ns = max(time.time_ns(), last_ns + 1)
        lines.append(dumps(_captured_record(span, messages, gate_set, judge_caller, last_ns)))
        logged.add(span_key(span))
    if lines:
        with outbox.owing(layout, "captured", ["replay_runs"]):
            append_lines(layout.replay_runs, lines)
    return len(lines)


def _captured_record(
    span: dict[str, Any],
    messages: list[dict[str, str]],
    gate_set: gates.GateSet,
    judge_caller: judge.Caller,
    ns: int,
) -> dict[str, Any]:
    task = task_of(messages)
    answer = captured_answer(span)
    model = span.get("model") or "unknown"
    call = CallResult(
        model=model,
        ok=span.get("error_type") is None,
        content=answer,
        error=span.get("error_type"),
        latency_ms=int(span.get("duration_ms") or 0),
        prompt_tokens=span.get("input_tokens"),
        completion_tokens=span.get("output_tokens"),
    )
    verdict = gates.Verdict(reasons=[f"captured call failed: {call.error}"])
    if call.ok:
        verdict = gate_set.check(
            gates.Run(
                task,
                answer,
                (),
                model,
                call.prompt_tokens,
                call.completion_tokens,
                call.latency_ms,
                answer[:LOG_RESPONSE_CHARS],
            ),
            judge_caller,
        )
        call.gate_reasons = list(verdict.reasons)
    recorded_at = rfc3339_nano(ns)
    task_hash = sha256_hex(task)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "input_task": task,
        "task_hash": task_hash,
        "retrieved_artifacts": {"rag_ids": []},
        "context_bundle": None,
        "model_response": answer[:LOG_RESPONSE_CHARS],
        "model_used": model,
        "escalation_path": [model],
        "validation_result": {"passed": not verdict.reasons, "reasons": verdict.reasons},
        "recorded_run_id": f"replay:{task_hash[:16]}:{sha256_hex(recorded_at)[:12]}",
        "recorded_at": recorded_at,
        "duration_ms": call.latency_ms,
        "calls": [call.to_json()],
        "provenance": {
            "label": CAPTURED_LABEL,
            "replay_of": span_key(span),
            "tool_version": __version__,
            "corpus_version": None,
            "prompt_sha256": messages_sha256(messages),
            "gates_version": gate_set.version,
            "options": {
                "captured": True,
                "trace_id": span.get("trace_id"),
                "service": span.get("service"),
                "gates": None if gate_set.directory is None else str(gate_set.directory),
            },
        },
    }
    if verdict.judge_calls:
        record["judge_calls"] = verdict.judge_calls
    return record
