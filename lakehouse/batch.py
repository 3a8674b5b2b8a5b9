"""``lakehouse replay --tasks FILE --concurrency N``: many replays, N in flight, one log line each.

Tasks are JSONL lines ``{"task": ..., <optional per-task options>}``; a bad line is reported
with its line number and skipped, the rest run. One pooled gateway client and one catalog
connection serve every worker thread; each run's log line is appended in a single locked
write, so lines are never interleaved, also with several processes appending at once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lakehouse import corpus, replay, retrieval
from lakehouse.errors import LakehouseError
from lakehouse.files import user_jsonl
from lakehouse.gateway import Gateway, gateway_url
from lakehouse.paths import Layout

PER_TASK_OPTIONS = {f.name for f in fields(replay.ReplayRequest)} - {"task"}


@dataclass
class BatchReport:
    runs: int = 0
    passed: int = 0
    escalated: int = 0
    errors: list[str] = field(default_factory=list)  # infrastructure failures, per task
    skipped: list[str] = field(default_factory=list)  # bad task lines


def read_tasks(path: Path, defaults: replay.ReplayRequest, report: BatchReport) -> list[replay.ReplayRequest]:
    requests = []
    for where, data in user_jsonl(path, report.skipped):
        if not isinstance(data, dict) or not isinstance(data.get("task"), str) or not data["task"].strip():
            report.skipped.append(f"{where}: needs a non-empty string 'task'")
            continue
        unknown = set(data) - PER_TASK_OPTIONS - {"task"}
        if unknown:
            report.skipped.append(f"{where}: unknown options {sorted(unknown)}")
            continue
        requests.append(replace(defaults, **data))
    return requests


def run(
    layout: Layout,
    requests: list[replay.ReplayRequest],
    concurrency: int,
    report: BatchReport,
    on_done: Callable[[int, int], None] | None = None,
) -> BatchReport:
    corpus_size = len(corpus.load(layout))
    needs_gateway = any(not r.dry_run for r in requests)
    gateway = (
        Gateway(gateway_url(requests[0].gateway_url), max_connections=concurrency) if needs_gateway else None
    )
    searcher = retrieval.Searcher(layout) if any(not r.no_retrieval for r in requests) else None
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lh-replay") as pool:
            options = {"searcher": searcher, "gateway": gateway, "corpus_size": corpus_size}
            futures = {pool.submit(replay.run, r, layout, **options): r for r in requests}
            for done, future in enumerate(as_completed(futures), start=1):
                _account(future.result, futures[future], report)
                if on_done:
                    on_done(done, len(requests))
    finally:
        if gateway:
            gateway.close()
        if searcher:
            searcher.close()
    return report


def _account(
    result: Callable[[], dict[str, Any]], request: replay.ReplayRequest, report: BatchReport
) -> None:
    try:
        record = result()
    except LakehouseError as exc:
        report.errors.append(f"{request.task[:60]!r}: {exc}")
        return
    report.runs += 1
    report.passed += bool(record["validation_result"]["passed"])
    report.escalated += len(record["escalation_path"]) > 1
