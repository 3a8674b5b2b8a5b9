"""Synthetic agent logs: all twelve streams, realistic enough to query, deterministic per seed.

Used by ``lakehouse demo`` (a few thousand lines with bad lines of every kind) and by the
benchmarks (a million lines). Rows are spread over ``days`` days ending on ``end_day``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lakehouse.core.files import dumps

MODELS = ["qwen2.5-coder:7b", "llama3.1:8b", "mistral-nemo:12b"]
STRONG_MODELS = ["gpt-4o", "claude-sonnet"]
TASKS = [
    "summarize the failing CI job log",
    "write a migration that adds an index on orders.created_at",
    "triage the flaky integration test in payments",
    "explain why the nightly backup job timed out",
    "draft release notes for version 2.3",
    "refactor the retry loop in the HTTP client",
    "find the cause of the memory leak in the ingest worker",
    "add input validation to the signup endpoint",
    "review the Terraform plan for the staging VPC",
    "rotate the expiring TLS certificates",
]
PLAYBOOKS = [
    (
        "flaky-tests",
        "Stabilise a flaky test",
        [
            "re-run the test in isolation",
            "check for shared state",
            "bisect recent changes",
            "quarantine and file an issue",
        ],
        ["ci", "tests"],
    ),
    (
        "db-migration",
        "Ship a safe database migration",
        [
            "write the migration as additive",
            "add the index concurrently",
            "backfill in batches",
            "verify query plans",
        ],
        ["database"],
    ),
    (
        "memory-leak",
        "Hunt a memory leak",
        [
            "capture heap profiles over time",
            "diff allocations",
            "check caches without bounds",
            "add a regression test",
        ],
        ["performance"],
    ),
    (
        "timeout",
        "Debug a job timeout",
        [
            "read the job's last log lines",
            "check downstream latency",
            "look for lock contention",
            "raise the timeout only with evidence",
        ],
        ["ops"],
    ),
    (
        "release-notes",
        "Write release notes",
        [
            "list merged pull requests",
            "group by user impact",
            "call out breaking changes",
            "link migration guides",
        ],
        ["docs"],
    ),
    (
        "tls-rotation",
        "Rotate TLS certificates",
        [
            "inventory expiring certificates",
            "issue new ones",
            "deploy with overlap",
            "verify the chain from outside",
        ],
        ["security"],
    ),
    (
        "input-validation",
        "Validate user input",
        [
            "list every field and its type",
            "reject unknown fields",
            "bound lengths",
            "test with malformed payloads",
        ],
        ["security", "api"],
    ),
    (
        "terraform-review",
        "Review a Terraform plan",
        ["read every destroy", "check security group changes", "confirm state backend", "apply in a window"],
        ["infra"],
    ),
]
SEVERITIES = ["low", "medium", "high", "critical"]
PHASES = ["plan", "build", "verify", "deploy"]
TOOLS = ["shell", "http_get", "read_file", "write_file", "sql", "grep"]
SCENARIO_CLASSES = ["grounded", "escalated", "no_retrieval", "local_only", "gateway_error", "corpus_add"]

Row = dict[str, Any]


class Clock:
    def __init__(self, rng: random.Random, end_day: str, days: int) -> None:
        self.rng = rng
        self.end = datetime.fromisoformat(end_day).replace(tzinfo=UTC) + timedelta(days=1)
        self.span = days * 86400

    def ts(self) -> str:
        moment = self.end - timedelta(seconds=self.rng.random() * self.span)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _model_call(r: random.Random, c: Clock, i: int) -> Row:
    status = r.choices(["ok", "error", "timeout"], [90, 7, 3])[0]
    row = {
        "ts": c.ts(),
        "call_id": f"call-{i:08d}",
        "run_id": f"run-{i // 4:07d}",
        "task_id": f"task-{i % 997:04d}",
        "task": r.choice(TASKS),
        "model": r.choice(MODELS),
        "status": status,
        "prompt_tokens": r.randint(200, 6000),
        "completion_tokens": r.randint(20, 1200),
        "latency_ms": r.randint(80, 12000),
    }
    if status != "ok":
        row["error"] = "upstream timeout" if status == "timeout" else "HTTP 500 from gateway"
    return row


def _task_outcome(r: random.Random, c: Clock, i: int) -> Row:
    passed = r.random() < 0.78
    return {
        "ts": c.ts(),
        "task_id": f"task-{i % 997:04d}",
        "run_id": f"run-{i:07d}",
        "task": r.choice(TASKS),
        "model": r.choice(MODELS),
        "passed": passed,
        "score": round(r.uniform(0.6, 1) if passed else r.uniform(0, 0.6), 3),
        "duration_ms": r.randint(500, 90000),
        "notes": r.choice(["", "needed a retry", "cited the playbook", "validation failed on citations"]),
    }


def _audit_finding(r: random.Random, c: Clock, i: int) -> Row:
    return {
        "ts": c.ts(),
        "audit_id": f"audit-{i // 8:06d}",
        "finding_id": f"f{i % 8}",
        "phase": r.choice(PHASES),
        "severity": r.choice(SEVERITIES),
        "verdict": r.choices(["pass", "fail", "warn"], [70, 20, 10])[0],
        "finding": r.choice(
            [
                "tests cover the change",
                "secret printed in logs",
                "missing rollback step",
                "migration is not reversible",
                "docs updated",
            ]
        ),
    }


def _escalation(r: random.Random, c: Clock, i: int) -> Row:
    return {
        "ts": c.ts(),
        "run_id": f"run-{i:07d}",
        "task_id": f"task-{i % 997:04d}",
        "from_model": r.choice(MODELS),
        "to_model": r.choice(STRONG_MODELS),
        "reason": r.choice(
            ["response cited no retrieved playbook", "empty response", "local call failed: HTTP 500"]
        ),
        "recovered": r.random() < 0.8,
    }


def _playbook(r: random.Random, c: Clock, i: int) -> Row:
    pid, title, steps, tags = PLAYBOOKS[i % len(PLAYBOOKS)]
    version = i // len(PLAYBOOKS) + 1
    return {
        "ts": c.ts(),
        "playbook_id": pid,
        "version": version,
        "title": title,
        "steps": steps if version == 1 else [*steps, f"revision {version}: note what changed"],
        "tags": tags,
    }


def _distinct_playbook(r: random.Random, c: Clock, i: int) -> Row:
    """A playbook of a large knowledge base: every line its own playbook (a corpus document each)."""
    row = _playbook(r, c, i)
    row["playbook_id"] = f"{row['playbook_id']}-{i:06d}"
    row["title"] = f"{row['title']} ({i})"
    row["version"] = 1
    return row


def _review(r: random.Random, c: Clock, i: int) -> Row:
    return {
        "ts": c.ts(),
        "review_id": f"rev-{i:07d}",
        "target": f"PR #{1000 + i % 5000}",
        "verdict": r.choices(["approve", "request_changes", "reject"], [70, 25, 5])[0],
        "comments": r.choice(["looks good", "please add tests", "split this change", "nice cleanup"]),
        "reviewer": r.choice(["ana", "bo", "chen", "dee"]),
        "run_id": f"run-{i:07d}",
    }


def _incident(r: random.Random, c: Clock, i: int) -> Row:
    row = {
        "ts": c.ts(),
        "incident_id": f"inc-{i:06d}",
        "severity": r.choice(SEVERITIES),
        "summary": r.choice(
            [
                "gateway returned 500s for 4 minutes",
                "disk full on the ingest worker",
                "certificate expired on staging",
                "queue backlog over 10k",
            ]
        ),
        "service": r.choice(["gateway", "ingest", "api", "scheduler"]),
    }
    if r.random() < 0.7:
        row["resolved_at"] = c.ts()
    return row


def _tool_call(r: random.Random, c: Clock, i: int) -> Row:
    ok = r.random() < 0.93
    row = {
        "ts": c.ts(),
        "call_id": f"tool-{i:08d}",
        "run_id": f"run-{i // 6:07d}",
        "tool": r.choice(TOOLS),
        "ok": ok,
        "duration_ms": r.randint(1, 5000),
        "args": {"path": f"src/module_{i % 40}.py", "limit": r.randint(1, 100)},
    }
    if not ok:
        row["error"] = r.choice(["permission denied", "timeout", "not found"])
    return row


def _feedback(r: random.Random, c: Clock, i: int) -> Row:
    return {
        "ts": c.ts(),
        "feedback_id": f"fb-{i:07d}",
        "run_id": f"run-{i:07d}",
        "rating": r.randint(1, 5),
        "comment": r.choice(
            [
                "exactly what I needed",
                "cited the wrong playbook",
                "too long",
                "wrong answer",
                "fast and correct",
            ]
        ),
        "user": r.choice(["u1", "u2", "u3"]),
    }


def _scenario(r: random.Random, c: Clock, i: int) -> Row:
    ok = r.random() < 0.95
    return {
        "ts": c.ts(),
        "suite": f"multitier-{i // 5000}",
        "scenario_id": f"s{i:07d}",
        "scenario_class": SCENARIO_CLASSES[i % len(SCENARIO_CLASSES)],
        "ok": ok,
        "latency_ms": r.randint(5, 900),
        **({} if ok else {"error": "unexpected outcome"}),
    }


def _replay_run(r: random.Random, c: Clock, i: int) -> Row:
    """Runs of the same tasks under two labels (even lines ``baseline``, odd ``candidate``), as a team
    trying a new model would record them: a few regressions and fixes, a retrieval change on some
    tasks, a quarter of the runs escalated (and recovered when they pass)."""
    pair, side = divmod(i, 2)
    label = ("baseline", "candidate")[side]
    task = f"{TASKS[pair % len(TASKS)]} (case {pair})"
    outcome = random.Random(pair)  # one draw per task, shared by both sides
    base_passed = outcome.random() < 0.8
    changed = outcome.random() < 0.12
    passed = base_passed != (side == 1 and changed)
    local = MODELS[pair % len(MODELS)] if side == 0 else MODELS[(pair + 1) % len(MODELS)]
    escalated = r.random() < 0.25
    path = [local, "qwen2.5-coder:32b"] if escalated else [local]
    retrieval_changed = side == 1 and outcome.random() < 0.2
    rag = f"rag:{PLAYBOOKS[(pair + (3 if retrieval_changed else 0)) % len(PLAYBOOKS)][0]}"
    # A failed run's answer refuses, and its reason is the refusal gate's: `lakehouse regate` judges this
    # history as it was judged (the runs carry no context bundle, so the citation gates have nothing to check).
    refusal = "I cannot tell from the log alone which step failed."
    reasons = [] if passed else ["refusal: response says 'I cannot'"]
    if escalated and passed:
        reasons = [f"recovered via escalation to {path[-1]}"]
    calls = [
        {
            "model": model,
            "ok": True,
            "error": None,
            "latency_ms": r.randint(50, 4000),
            "prompt_tokens": r.randint(300, 3000),
            "completion_tokens": r.randint(20, 400),
        }
        for model in path
    ]
    return {
        "schema": "replay_run.v1",
        "input_task": task,
        "task_hash": hashlib.sha256(task.encode()).hexdigest(),
        "retrieved_artifacts": {"rag_ids": [rag]},
        "context_bundle": None,
        "model_response": f"Follow [{rag}]." if passed else refusal,
        "model_used": path[-1],
        "escalation_path": path,
        "validation_result": {"passed": passed, "reasons": reasons},
        "recorded_run_id": f"replay:{i:016x}:{i:012x}",
        "recorded_at": c.ts(),
        "duration_ms": sum(call["latency_ms"] for call in calls),
        "calls": calls,
        "provenance": {"label": label, "corpus_version": f"demo-{side + 1}"},
    }


def _decision(r: random.Random, c: Clock, i: int) -> Row:
    return {
        "ts": c.ts(),
        "decision_id": f"adr-{i // 3:05d}",
        "status": ["proposed", "accepted", "superseded"][i % 3],
        "title": r.choice(
            [
                "Use DuckDB for the catalog",
                "Escalate only on failed validation",
                "Keep JSONL as the source of truth",
                "Retrieve with BM25 first",
            ]
        ),
        "rationale": r.choice(["measured faster", "simpler to operate", "other runtimes read it"]),
        "owner": r.choice(["platform", "ml", "infra"]),
    }


GENERATORS: dict[str, Callable[[random.Random, Clock, int], Row]] = {
    "model_calls": _model_call,
    "task_outcomes": _task_outcome,
    "audit_findings": _audit_finding,
    "escalations": _escalation,
    "playbooks": _playbook,
    "reviews": _review,
    "incidents": _incident,
    "tool_calls": _tool_call,
    "feedback": _feedback,
    "scenario_results": _scenario,
    "replay_runs": _replay_run,
    "decisions": _decision,
}

# Share of lines per stream (model calls and tool calls dominate real logs).
WEIGHTS = {
    "model_calls": 30,
    "task_outcomes": 8,
    "audit_findings": 6,
    "escalations": 4,
    "playbooks": 1,
    "reviews": 5,
    "incidents": 2,
    "tool_calls": 25,
    "feedback": 4,
    "scenario_results": 10,
    "replay_runs": 3,
    "decisions": 2,
}


def stream_lines(
    stream: str, count: int, seed: int, end_day: str, days: int, distinct_playbooks: bool = False
) -> Iterator[str]:
    rng = random.Random(f"{seed}:{stream}")
    clock = Clock(rng, end_day, days)
    make = _distinct_playbook if distinct_playbooks and stream == "playbooks" else GENERATORS[stream]
    for i in range(count):
        yield dumps(make(rng, clock, i))


# The same share for every stream: a knowledge base where playbooks and nested replay runs weigh as
# much as model calls (the benchmark's second mix; the corpus and the catalog mirror then dominate).
EQUAL_WEIGHTS = dict.fromkeys(WEIGHTS, 1)


def split_lines(total: int, weights: dict[str, int] | None = None) -> dict[str, int]:
    weights = weights or WEIGHTS
    weight_sum = sum(weights.values())
    counts = {s: max(8, total * w // weight_sum) for s, w in weights.items()}
    return counts


def write_streams(
    kb: Path,
    total: int,
    seed: int,
    end_day: str,
    days: int,
    streams: list[str] | None = None,
    weights: dict[str, int] | None = None,
    distinct_playbooks: bool = False,
) -> dict[str, int]:
    """Write ``total`` lines spread over the twelve streams by ``weights`` (default: :data:`WEIGHTS`);
    returns lines per stream. ``distinct_playbooks``: every playbook line a playbook of its own (else a
    few playbooks in many versions)."""
    kb.mkdir(parents=True, exist_ok=True)
    counts = split_lines(total, weights)
    for stream in streams or list(GENERATORS):
        with open(kb / f"{stream}.jsonl", "w", encoding="utf-8") as handle:
            for line in stream_lines(stream, counts[stream], seed, end_day, days, distinct_playbooks):
                handle.write(line + "\n")
    return counts
