"""``lakehouse replay --tasks FILE --concurrency N``: many replays, N in flight, one log line each.

Tasks are JSONL lines ``{"task": ..., <optional per-task options>}``; a bad line is reported
with its line number and skipped, the rest run. One :class:`Session` (a pooled gateway client
and one catalog connection) serves every worker thread; each run's log line is appended in a single locked
write, so lines are never interleaved, also with several processes appending at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lakehouse import gates, replay, retrieval
from lakehouse.core import outbox
from lakehouse.core.errors import LakehouseError, UsageError
from lakehouse.core.files import GroupAppender, user_jsonl
from lakehouse.core.paths import Layout
from lakehouse.core.types import Document
from lakehouse.gateway import Gateway, gateway_url
from lakehouse.retrieval import corpus, vectors

PER_TASK_OPTIONS = {f.name for f in fields(replay.ReplayRequest)} - {"task", "replay_of", *replay.NOT_OPTIONS}


@dataclass
class BatchReport:
    runs: int = 0
    passed: int = 0
    escalated: int = 0
    errors: list[str] = field(default_factory=list)  # infrastructure failures, per task
    skipped: list[str] = field(default_factory=list)  # bad task lines
    raised: Counter[str] = field(default_factory=Counter)  # gate -> runs it raised on (a bug in the gate?)


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
        try:
            options = {name: task_option(name, value) for name, value in data.items() if name != "task"}
        except ValueError as exc:
            report.skipped.append(f"{where}: {exc}")
            continue
        requests.append(replace(defaults, task=data["task"], **options))
    return requests


_BOOLEAN_OPTIONS = {"allow_escalation", "local_only", "no_retrieval", "dry_run"}
_CHOICES = {"retrieval": vectors.METHODS, "fusion": vectors.FUSIONS}


def task_option(name: str, value: Any) -> Any:
    """A task line's option as the request takes it, checked as the command line checks its flag; what
    producers write for the same thing (``"3"``, ``3.0``, ``"true"``) is read as such; ValueError says why not."""
    if name in _BOOLEAN_OPTIONS:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"option {name!r} must be true or false, not {value!r}")
        return value
    if name == "k":
        number = _integer(value)
        if number is None or not 1 <= number <= replay.MAX_K:
            raise ValueError(f"option 'k' must be a whole number from 1 to {replay.MAX_K}, not {value!r}")
        return number
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a numeric label or model tag
    if value is not None and not isinstance(value, str):
        raise ValueError(f"option {name!r} must be a string, not {value!r}")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ValueError(f"option {name!r} must be one of {', '.join(_CHOICES[name])}, not {value!r}")
    return value


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return None


class Session:
    """What many replays in one process share: one searcher, one pooled gateway client, the corpus size.

    ``writable=True`` also lets :meth:`add_documents` index documents that the next replay
    retrieves (the searcher then holds the catalog's write connection until :meth:`close`).
    Thread-safe: call :meth:`replay` from many threads.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        url: str | None = None,
        retrieval_needed: bool = True,
        gateway_needed: bool = True,
        writable: bool = False,
        embedding_model: str | None = None,
    ) -> None:
        self.layout = layout
        self.writable = writable
        self._corpus_size = len(corpus.load(layout))  # an unreadable corpus fails here, once (exit 4)
        self.appender = GroupAppender(layout.replay_runs)
        # before any line: the lake is owed this batch's runs (committed when the session closes)
        self._marked = outbox.mark(layout, "replay batch", ["replay_runs"])
        self.gateway = Gateway(gateway_url(url)) if gateway_needed or embedding_model else None
        embedder = (
            vectors.Embedder(self.gateway, embedding_model) if self.gateway and embedding_model else None
        )
        try:
            needs_searcher = retrieval_needed or writable
            self.searcher = (
                retrieval.Searcher(layout, writable=writable, query_threads=1, embedder=embedder)
                if needs_searcher
                else None
            )
        except BaseException:
            self.close()
            raise

    @property
    def warning(self) -> str | None:
        return self.searcher.warning if self.searcher else None

    def replay(self, request: replay.ReplayRequest) -> dict[str, Any]:
        size = (
            len(self.searcher.corpus.docs)
            if self.searcher and self.searcher.corpus.offset
            else self._corpus_size
        )
        return replay.run(
            request,
            self.layout,
            searcher=self.searcher,
            gateway=self.gateway,
            corpus_size=size,
            appender=self.appender,
        )

    def add_documents(self, docs: list[Document], report: corpus.AddReport) -> None:
        if self.searcher is None:
            raise UsageError("this session has no searcher to add documents to")
        self.searcher.add(docs, report)

    def close(self) -> None:
        outbox.committed(getattr(self, "_marked", None))
        if self.gateway:
            self.gateway.close()
            self.gateway = None
        if getattr(self, "searcher", None):
            self.searcher.close()
            self.searcher = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(
    layout: Layout,
    requests: list[replay.ReplayRequest],
    concurrency: int,
    report: BatchReport,
    on_done: Callable[[int, int], None] | None = None,
) -> BatchReport:
    # One embedding model per batch: the first vector or hybrid task's (a task asking for vectors
    # without any model configured fails alone, with a usage error).
    uses_vectors = [r for r in requests if r.retrieval != "bm25" and not r.no_retrieval]
    model = vectors.embedding_model(uses_vectors[0].embedding_model) if uses_vectors else None
    session = Session(
        layout,
        url=requests[0].gateway_url,
        retrieval_needed=any(not r.no_retrieval for r in requests),
        gateway_needed=any(not r.dry_run for r in requests),
        embedding_model=model,
    )
    with session, ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="lh-replay") as pool:
        futures = {pool.submit(session.replay, r): r for r in requests}
        for done, future in enumerate(as_completed(futures), start=1):
            _account(future.result, futures[future], report)
            if on_done:
                on_done(done, len(requests))
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
    calls = [reason for call in record["calls"] for reason in call.get("gate_reasons") or []]
    report.raised.update(gates.raised_by([*record["validation_result"]["reasons"], *calls]))
