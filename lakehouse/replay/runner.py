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

from lakehouse import __version__, retrieval
from lakehouse.core import outbox
from lakehouse.core.errors import UsageError
from lakehouse.core.files import GroupAppender, append_lines, dumps
from lakehouse.core.paths import Layout
from lakehouse.core.types import ContextBundle, RetrievedPlaybook
from lakehouse.gateway import CallResult, Gateway, gateway_url, model_names
from lakehouse.replay.prompt import Prompt, build, dry_run_answer
from lakehouse.replay.validate import GATES_VERSION, ValidationResult, validate
from lakehouse.retrieval import corpus, vectors

SCHEMA = "replay_run.v1"
LOG_RESPONSE_CHARS = 4000
DEFAULT_K = 5
Caller = Callable[[str, str, str], CallResult]


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
    replay_of: str | None = None  # the recorded run this one re-runs (provenance.replay_of)


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
    prompt = build(request.task, bundle)
    local_model, escalation_model = model_names(request.local_model, request.escalation_model)
    own_gateway = None
    if request.dry_run:
        caller = dry_run_caller(request.task, bundle)
    else:
        if gateway is None:
            gateway = own_gateway = Gateway(gateway_url(request.gateway_url))
        caller = gateway.chat
    try:
        record = _replay(request, prompt, bundle, caller, local_model, escalation_model)
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
            "prompt_sha256": prompt.sha256,
            "gates_version": GATES_VERSION,
            "options": {
                **asdict(request),
                "task": None,
                "local_model": local_model,
                "escalation_model": escalation_model,
                "gateway_url": None if request.dry_run else gateway_url(request.gateway_url),
            },
        },
    }
    log(layout, result, appender)
    return result


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


def _replay(
    request: ReplayRequest,
    prompt: Prompt,
    bundle: ContextBundle | None,
    caller: Caller,
    local_model: str,
    escalation_model: str,
) -> dict[str, Any]:
    """The seed's order of calls and escalation rule, verbatim in meaning."""
    escalation = [local_model]
    model_used = local_model
    model_response = ""
    calls = [caller(local_model, prompt.system, prompt.user)]
    if calls[0].ok:
        model_response = calls[0].content
        validation = validate(model_response, bundle)
    else:
        validation = ValidationResult(False, [f"local call failed: {calls[0].error}"])
    calls[0].gate_reasons = list(validation.reasons)  # why it escalated, kept past a recovery
    if not validation.passed and request.allow_escalation and not request.local_only:
        escalation.append(escalation_model)
        escalated = caller(escalation_model, prompt.system, prompt.user)
        calls.append(escalated)
        if escalated.ok:
            model_response = escalated.content
            model_used = escalation_model
            validation = validate(model_response, bundle)
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
        outbox.mark(
            layout, "replay", ["replay_runs"]
        )  # before the line: a run killed after it is still published later
        append_lines(layout.replay_runs, [line])
