"""``lakehouse replay``: retrieve → bundle → prompt → model → validate → escalate → log (PRODUCT.md §4).

A port of the original Go ``Replay``, keeping its semantics exactly: the order of calls,
the escalation rule and reason strings, the dry run's ``[ESCALATED]`` second answer, the
run id ``replay:<sha256(task)[:16]>:<sha256(recorded_at)[:12]>``, and the 4000-character
cut of ``model_response`` in the log only. A failed model call or validation is a result;
errors (:class:`LakehouseError`) are infrastructure failures.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from lakehouse import __version__, gates, retrieval
from lakehouse.core import outbox
from lakehouse.core.errors import UsageError
from lakehouse.core.files import GroupAppender, append_lines, dumps
from lakehouse.core.paths import Layout
from lakehouse.core.types import ContextBundle, RetrievedPlaybook
from lakehouse.gates import judge
from lakehouse.gateway import CallResult, Gateway, gateway_url, model_names
from lakehouse.replay.prompt import Prompt, build, dry_run_answer, messages_sha256
from lakehouse.replay.validate import ValidationResult
from lakehouse.retrieval import corpus, vectors

SCHEMA = "replay_run.v1"
LOG_RESPONSE_CHARS = 4000
DEFAULT_K = 5
MAX_K = 50  # playbooks a run may ask for (-k and a task line's "k")
Caller = Callable[[str, str, str], CallResult]
Ask = Callable[[str], CallResult]  # one model call of a run: the model's answer to the run's prompt
Judge = Callable[[CallResult], ValidationResult]  # the gates' verdict on a call's answer
# Request fields that are inputs, not options: never written into provenance.options.
NOT_OPTIONS = ("recorded_response", "messages")


@dataclass
class ReplayRequest:
    task: str
    allow_escalation: bool = False
    local_only: bool = False
    no_retrieval: bool = False
    dry_run: bool = False
    local_model: str | None = None
    escalation_model: str | None = None
    gateway_url: str | None = None
    k: int = DEFAULT_K
    retrieval: str = "bm25"  # bm25 | vector | hybrid
    fusion: str = "cc"  # hybrid's fusion: cc (convex combination, calibrated) | rrf
    embedding_model: str | None = None  # for vector and hybrid (default: $LH_EMBEDDING_MODEL)
    label: str | None = None  # names a set of runs to compare with another (provenance.label)
    replay_of: str | None = None  # the recorded run or span:ID this one re-runs (provenance.replay_of)
    gates: str | None = None  # a directory of the user's gates, beside the built-in ones (--gates)
    recorded_response: str | None = (
        None  # the recorded or captured answer, for the gates (run.recorded_response)
    )
    messages: list[dict[str, str]] | None = (
        None  # a captured call's messages, sent as recorded (no prompt built)
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rfc3339_nano(ns: int) -> str:
    """UTC time like Go's ``time.RFC3339Nano``: nanoseconds, trailing zeros dropped."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def dry_run_caller(task: str, bundle: ContextBundle | None) -> Caller:
    """The second call of a run (escalation) returns the same text with ``[ESCALATED]`` appended."""
    calls = 0

    def call(model: str, _system: str, _user: str) -> CallResult:
        nonlocal calls
        calls += 1
        content = dry_run_answer(task, bundle)
        if calls >= 2:
            content += "\n\n[ESCALATED]"
        return CallResult(model=model, ok=True, content=content)

    return call


def build_bundle(
    searcher: retrieval.Searcher, task: str, k: int, method: str = "bm25", fusion: str = "cc"
) -> ContextBundle:
    hits, _ = searcher.retrieve(task, k, method, fusion)
    texts = {rag_id: (title, text) for rag_id, title, text in searcher.documents([h.rag_id for h in hits])}
    playbooks = [
        RetrievedPlaybook(
            h.rag_id, texts[h.rag_id][0] or "", texts[h.rag_id][1] or "", round(h.score, 6), h.found_by
        )
        for h in hits
        if h.rag_id in texts
    ]
    return ContextBundle(task=task, retrieved_playbooks=playbooks, method=method)


def run(
    request: ReplayRequest,
    layout: Layout,
    *,
    searcher: retrieval.Searcher | None = None,
    gateway: Gateway | None = None,
    corpus_size: int | None = None,
    appender: GroupAppender | None = None,
) -> dict[str, Any]:
    """Replay one task; append its ``replay_run.v1`` line; return that record (untruncated response)."""
    if not request.task.strip():
        raise UsageError("the task is empty")
    t0 = time.perf_counter()
    recorded_at = rfc3339_nano(time.time_ns())
    task_hash = sha256_hex(request.task)
    if corpus_size is None:  # a batch loads (and so checks) the corpus once for all its runs
        corpus_size = len(corpus.load(layout))  # an unreadable corpus is an infrastructure error (exit 4)

    bundle = None
    if not request.no_retrieval:
        bundle = _retrieve(layout, request, searcher) if corpus_size else ContextBundle(task=request.task)
    gate_set = gates.load(request.gates)
    prompt = build(request.task, bundle)
    local_model, escalation_model = model_names(request.local_model, request.escalation_model)
    own_gateway = None
    if gateway is None and not request.dry_run:
        gateway = own_gateway = Gateway(gateway_url(request.gateway_url))
    ask, judge_caller = _callers(request, bundle, prompt, gateway)
    judge_calls: list[dict[str, Any]] = []

    def judge_answer(call: CallResult) -> ValidationResult:
        verdict = gate_set.check(gate_run(request, bundle, call), judge_caller)
        judge_calls.extend(verdict.judge_calls)
        return ValidationResult(not verdict.reasons, verdict.reasons)

    try:
        record = replay_calls(request, ask, judge_answer, local_model, escalation_model)
    finally:
        if own_gateway is not None:
            own_gateway.close()

    record_id = f"replay:{task_hash[:16]}:{sha256_hex(recorded_at)[:12]}"
    result = {
        "schema": SCHEMA,
        "input_task": request.task,
        "task_hash": task_hash,
        "retrieved_artifacts": {"rag_ids": bundle.rag_ids if bundle else []},
        "context_bundle": bundle.to_json() if bundle else None,
        "model_response": record["model_response"],
        "model_used": record["model_used"],
        "escalation_path": record["escalation_path"],
        "validation_result": record["validation"].to_json(),
        "recorded_run_id": record_id,
        "recorded_at": recorded_at,
        "duration_ms": int((time.perf_counter() - t0) * 1000),
        "calls": [c.to_json() for c in record["calls"]],
        "provenance": {
            "label": request.label,
            "replay_of": request.replay_of,
            "tool_version": __version__,
            "corpus_version": corpus.version(layout),
            "prompt_sha256": prompt.sha256 if request.messages is None else messages_sha256(request.messages),
            "gates_version": gate_set.version,
            "options": {
                **{k: v for k, v in asdict(request).items() if k not in NOT_OPTIONS},
                "task": None,
                "local_model": local_model,
                "escalation_model": escalation_model,
                "gateway_url": None if request.dry_run else gateway_url(request.gateway_url),
                "gates": None if gate_set.directory is None else str(gate_set.directory),
            },
        },
    }
    if judge_calls:
        result["judge_calls"] = judge_calls
    log(layout, result, appender)
    return result


def _callers(
    request: ReplayRequest, bundle: ContextBundle | None, prompt: Prompt, gateway: Gateway | None
) -> tuple[Ask, Caller]:
    """How the run asks a model (the prompt, or a captured call's messages as recorded) and a judge."""
    if request.dry_run or gateway is None:
        dry = dry_run_caller(request.task, bundle)
        return (lambda model: dry(model, prompt.system, prompt.user)), judge.dry_run_caller
    if request.messages is not None:
        messages, chat_messages = request.messages, gateway.chat_messages
        return (lambda model: chat_messages(model, messages)), gateway.chat
    chat = gateway.chat
    return (lambda model: chat(model, prompt.system, prompt.user)), gateway.chat


def gate_run(request: ReplayRequest, bundle: ContextBundle | None, call: CallResult) -> gates.Run:
    """What the gates judge of a call's answer."""
    return gates.Run(
        task=request.task,
        response=call.content,
        rag_ids=tuple(bundle.rag_ids) if bundle is not None and bundle.retrieved_playbooks else (),
        model=call.model,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        latency_ms=call.latency_ms,
        recorded_response=request.recorded_response,
    )


def _retrieve(layout: Layout, request: ReplayRequest, searcher: retrieval.Searcher | None) -> ContextBundle:
    if searcher is not None:
        return build_bundle(searcher, request.task, request.k, request.retrieval, request.fusion)
    embedder = embedder_for(request)
    try:
        with retrieval.Searcher(layout, embedder=embedder) as own:
            return build_bundle(own, request.task, request.k, request.retrieval, request.fusion)
    finally:
        if embedder is not None:
            embedder.gateway.close()


def embedder_for(request: ReplayRequest) -> vectors.Embedder | None:
    """The embedder a request's retrieval method needs (None for BM25); checks the method."""
    model = vectors.embedding_model(request.embedding_model) if request.retrieval != "bm25" else None
    vectors.check_method(request.retrieval, model)
    return vectors.Embedder(Gateway(gateway_url(request.gateway_url)), model) if model else None


def replay_calls(
    request: ReplayRequest, ask: Ask, judge_answer: Judge, local_model: str, escalation_model: str
) -> dict[str, Any]:
    """The seed's order of calls and escalation rule, verbatim in meaning."""
    escalation = [local_model]
    model_used = local_model
    model_response = ""
    calls = [ask(local_model)]
    if calls[0].ok:
        model_response = calls[0].content
        validation = judge_answer(calls[0])
    else:
        validation = ValidationResult(False, [f"local call failed: {calls[0].error}"])
    calls[0].gate_reasons = list(validation.reasons)  # why it escalated, kept past a recovery
    if not validation.passed and request.allow_escalation and not request.local_only:
        escalation.append(escalation_model)
        escalated = ask(escalation_model)
        calls.append(escalated)
        if escalated.ok:
            model_response = escalated.content
            model_used = escalation_model
            validation = judge_answer(escalated)
            escalated.gate_reasons = list(validation.reasons)
            if validation.passed:
                validation.reasons = [f"recovered via escalation to {escalation_model}", *validation.reasons]
        else:
            validation.reasons.append(f"escalation also failed: {escalated.error}")
            escalated.gate_reasons = [f"escalation call failed: {escalated.error}"]
    return {
        "model_response": model_response,
        "model_used": model_used,
        "escalation_path": escalation,
        "validation": validation,
        "calls": calls,
    }


def log(layout: Layout, result: dict[str, Any], appender: GroupAppender | None = None) -> None:
    """Append the run (response cut to 4000 characters) to data/_kb/replay_runs.jsonl in one locked write."""
    line = dumps({**result, "model_response": result["model_response"][:LOG_RESPONSE_CHARS]})
    if appender is not None:
        appender.append(line)
    else:
        # marked before the line: a run killed after the mark is still published
        with outbox.owing(layout, "replay", ["replay_runs"]):
            append_lines(layout.replay_runs, [line])
