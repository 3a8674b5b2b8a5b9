"""Named analytics over 1M replay runs: p50 ms per query, and `sync` of 1M runs into a fresh catalog.

Target (issue 4): each named query p50 ≤ 100 ms. Runs are synthetic replay_run.v1 lines with the
shape replay writes (a quarter escalated, tokens and latencies per call), over 60 days. There is no
evidence here, so `evidence_by_kind_and_day` is timed by bench/materialize.py over its 1M lines.

    python bench/analytics.py --runs 1000000 --repeat 7 --json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, query_p50_ms

from lakehouse import catalog
from lakehouse.catalog import analytics
from lakehouse.core import db
from lakehouse.core.paths import open_root

MODELS = ["qwen2.5-coder:7b", "llama3.1:8b", "mistral-nemo:12b"]
DAYS = 60
FIRST_DAY = datetime(2026, 1, 1, 12, tzinfo=UTC)
TIMESTAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
REASONS = ["response cites no retrieved rag_id", "response is empty", "response is a refusal"]


def run_line(i: int, rng: random.Random) -> str:
    local = MODELS[i % 3]
    escalated = rng.random() < 0.25
    passed = rng.random() < 0.8
    reasons = [] if passed else [REASONS[i % 3]]
    calls = [
        {
            "model": local,
            "ok": True,
            "error": None,
            "latency_ms": rng.randint(200, 4000),
            "prompt_tokens": rng.randint(300, 3000),
            "completion_tokens": rng.randint(20, 600),
            "gate_reasons": [REASONS[i % 3]] if escalated else reasons,
        }
    ]
    if escalated:
        calls.append({**calls[0], "model": "qwen2.5-coder:32b", "gate_reasons": reasons})
    day = 1 + i % DAYS
    record = {
        "schema": "replay_run.v1",
        "input_task": f"task number {i % 5000}",
        "task_hash": f"{i % 5000:064x}",
        "retrieved_artifacts": {"rag_ids": [f"rag:p{i % 40}", f"rag:p{(i + 7) % 40}"]},
        "context_bundle": {"task": f"task number {i % 5000}", "retrieved_playbooks": []},
        "model_response": "answer citing [rag:p1]",
        "model_used": "qwen2.5-coder:32b" if escalated else local,
        "escalation_path": [local, "qwen2.5-coder:32b"] if escalated else [local],
        "validation_result": {"passed": passed, "reasons": reasons},
        "recorded_run_id": f"replay:{i:016x}:{i * 7919 % 10**12:012d}",
        "recorded_at": (FIRST_DAY + timedelta(days=day - 1, microseconds=i)).strftime(TIMESTAMP),
        "duration_ms": sum(c["latency_ms"] for c in calls) + rng.randint(1, 50),
        "calls": calls,
        "provenance": {"tool_version": "bench", "gates_version": "1"},
    }
    return json.dumps(record, separators=(",", ":"))


def write_runs(path: Path, count: int) -> None:
    rng = random.Random(11)
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, count, 10_000):
            out.write("".join(run_line(i, rng) + "\n" for i in range(start, min(count, start + 10_000))))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        layout = open_root(Path(tmp), create=True)
        start = time.perf_counter()
        write_runs(layout.replay_runs, args.runs)
        generate_s = time.perf_counter() - start
        start = time.perf_counter()
        report = catalog.sync(layout)
        sync_s = time.perf_counter() - start
        start = time.perf_counter()
        again = catalog.sync(layout)
        resync_s = time.perf_counter() - start
        queries = {}
        with db.catalog(layout.catalog, read_only=True) as con:
            for name in analytics.named_queries():
                queries[name] = query_p50_ms(con, analytics.named_query_sql(name), args.repeat)
        log_mib = layout.replay_runs.stat().st_size / 2**20
    result = {
        "benchmark": "analytics",
        "runs": args.runs,
        "log_mib": round(log_mib, 1),
        "generate_s": round(generate_s, 1),
        "sync_s": round(sync_s, 2),
        "synced_runs": report.replay_runs,
        "resync_s": round(resync_s, 3),
        "resync_runs": again.replay_runs,
        "query_p50_ms": queries,
        "targets": {"query_p50_ms": 100},
        "machine": machine(),
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
