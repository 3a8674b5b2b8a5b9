"""Load: concurrent replays in six scenario classes against a loopback stub gateway (issue 5, PRODUCT.md §9).

    python bench/load.py --concurrency 50 --duration 60 --json

Starts bench/stub_server.py in its own process, prepares a corpus in --root (a fresh temporary
root when not given), then drives scenarios for --duration seconds from --concurrency threads
through one writable replay session (what `lakehouse replay --tasks` uses, plus adds), the six
classes mixed evenly:

  grounded                local model cites a retrieved playbook: passed, no escalation
  escalated_recovered     local answer cites nothing: escalated, recovered
  no_retrieval            --no-retrieval: passed without a bundle
  local_only_fail         --local-only, local answer cites nothing: recorded as not passed
  server_error_recovered  local model answers HTTP 500: escalated, recovered
  add_then_retrieve       a new document is added to the corpus, then a query must find it first

Each scenario checks its own expected outcome. Afterwards `logged` counts the new lines of
data/_kb/replay_runs.jsonl and `mirrored` the new rows of the catalog's replay_runs after a sync.
Prints one JSON object on stdout (with --json; otherwise indented) and a table on stderr.

--class NAME (repeatable) drives only those classes. --stages adds the replay process's CPU per
scenario by stage (per-thread CPU clocks around each stage; what is left is record building,
bookkeeping and the load's own threads), at a small cost of its own.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine
from stub_server import LOCAL_MODEL

from lakehouse import catalog, retrieval
from lakehouse.core import db
from lakehouse.core.files import size_of
from lakehouse.core.paths import Layout, open_root
from lakehouse.core.types import Document
from lakehouse.replay import ReplayRequest, batch
from lakehouse.retrieval import corpus

ESCALATION_MODEL = "load-big"
CLASSES = [
    "grounded",
    "escalated_recovered",
    "no_retrieval",
    "local_only_fail",
    "server_error_recovered",
    "add_then_retrieve",
]
REPLAY_CLASSES = CLASSES[:5]
SYLLABLES = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]
TARGET_RATE = 438  # PRODUCT.md §9: the Go original's verified rate at 50 concurrent
TARGET_RATE_ON_A_SLOW_HOUR = 550  # issue 31: the machine's speed varies by ±15 %
TARGET_CPU_MS = 2.2  # replay-process CPU per scenario (issue 31)


def start_stub() -> tuple[subprocess.Popen, str]:
    stub = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "stub_server.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = stub.stdout.readline() if stub.stdout else ""
    if not line.startswith("listening "):
        stub.kill()
        raise SystemExit(f"stub gateway did not start: {line!r}")
    return stub, line.split()[1]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(3)))
    return sorted(words)


def prepare_corpus(layout: Layout, docs: int, rng: random.Random) -> list[Document]:
    """``docs`` playbook-like documents (30 to 120 words of a 3,000-word vocabulary), added as `corpus add` does."""
    words = vocabulary(3000, rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    documents = [
        Document(
            f"rag:load-{i:06d}",
            " ".join(rng.choices(words, weights, k=3)).title(),
            " ".join(rng.choices(words, weights, k=rng.randint(30, 120))),
        )
        for i in range(docs)
    ]
    report = corpus.AddReport()
    warning = retrieval.add_documents(layout, documents, report)
    if warning:
        raise SystemExit(warning)
    return documents


class Scenarios:
    """Builds each class's input and checks its outcome."""

    def __init__(self, session: batch.Session, documents: list[Document], url: str, seed: int) -> None:
        self.session = session
        self.documents = documents
        self.url = url
        self.rng = random.Random(seed)
        self.added = itertools.count()
        self.lock = threading.Lock()

    def task_words(self) -> str:
        with self.lock:
            doc = self.rng.choice(self.documents)
            return " ".join(self.rng.sample(doc.text.split(), 4))

    def request(self, task: str, **options: Any) -> ReplayRequest:
        return ReplayRequest(
            task=task,
            local_model=LOCAL_MODEL,
            escalation_model=ESCALATION_MODEL,
            gateway_url=self.url,
            **options,
        )

    def run(self, name: str) -> bool:
        return getattr(self, name)()

    def grounded(self) -> bool:
        r = self.session.replay(self.request(f"how to {self.task_words()}", allow_escalation=True))
        return r["validation_result"] == {"passed": True, "reasons": []} and r["escalation_path"] == [
            LOCAL_MODEL
        ]

    def escalated_recovered(self) -> bool:
        task = f"how to {self.task_words()} [scenario:ungrounded]"
        r = self.session.replay(self.request(task, allow_escalation=True))
        return (
            r["validation_result"]["passed"]
            and r["escalation_path"] == [LOCAL_MODEL, ESCALATION_MODEL]
            and r["validation_result"]["reasons"] == [f"recovered via escalation to {ESCALATION_MODEL}"]
            and r["calls"][0]["gate_reasons"] == ["response cites no retrieved rag_id"]
        )

    def no_retrieval(self) -> bool:
        r = self.session.replay(self.request(f"how to {self.task_words()}", no_retrieval=True))
        return r["validation_result"]["passed"] and r["context_bundle"] is None and len(r["calls"]) == 1

    def local_only_fail(self) -> bool:
        task = f"how to {self.task_words()} [scenario:ungrounded]"
        r = self.session.replay(self.request(task, allow_escalation=True, local_only=True))
        return r["validation_result"] == {
            "passed": False,
            "reasons": ["response cites no retrieved rag_id"],
        } and r["escalation_path"] == [LOCAL_MODEL]

    def server_error_recovered(self) -> bool:
        task = f"how to {self.task_words()} [scenario:server-error]"
        r = self.session.replay(self.request(task, allow_escalation=True))
        return (
            r["validation_result"]["passed"]
            and r["escalation_path"] == [LOCAL_MODEL, ESCALATION_MODEL]
            and (r["calls"][0]["error"] or "").startswith("HTTP 500")
        )

    def add_then_retrieve(self) -> bool:
        number = next(self.added)
        marker = "".join(SYLLABLES[int(d)] for d in f"{number:06d}")  # a word no other document has
        doc = Document(
            f"rag:added-{number:06d}",
            f"Added playbook {marker}",
            f"When {marker} fails, {self.task_words()} and then restart {marker} carefully.",
        )
        report = corpus.AddReport()
        self.session.add_documents([doc], report)
        assert self.session.searcher is not None
        hits, _ = self.session.searcher.search(f"what about {marker}", 5)
        return report.added == [doc.rag_id] and bool(hits) and hits[0].rag_id == doc.rag_id


def drive(
    scenarios: Scenarios,
    concurrency: int,
    duration_s: float,
    progress: Callable[[int], None],
    classes: list[str] = CLASSES,
) -> dict:
    counter = itertools.count()
    latencies: dict[str, list[float]] = {name: [] for name in CLASSES}
    unexpected: dict[str, list[str]] = {name: [] for name in CLASSES}
    deadline = time.perf_counter() + duration_s

    def worker() -> None:
        while time.perf_counter() < deadline:
            name = classes[next(counter) % len(classes)]
            start = time.perf_counter()
            try:
                ok, why = scenarios.run(name), "outcome differs from the class's expectation"
            except Exception as exc:  # a scenario that raises is an unexpected outcome, not a crash
                ok, why = False, f"{type(exc).__name__}: {exc}"
            latencies[name].append((time.perf_counter() - start) * 1000)
            if not ok:
                unexpected[name].append(why)

    threads = [threading.Thread(target=worker, name=f"load-{i}") for i in range(concurrency)]
    start, cpu_start = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=5)
            if thread.is_alive():
                progress(sum(len(v) for v in latencies.values()))
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu_start
    return {"latencies": latencies, "unexpected": unexpected, "elapsed_s": elapsed, "cpu_s": cpu}


def stage_timers(session: batch.Session) -> dict[str, float]:
    """Per-thread CPU seconds spent in each stage of a replay, summed over threads (filled as it runs).

    Wraps the session's own objects' methods (this process only); a stage inside another is not
    counted twice: ``documents`` is timed apart from ``search``, and what the log's group commit
    does is counted once, by the thread that flushes.
    """
    from lakehouse.core import files
    from lakehouse.gates import gateset
    from lakehouse.replay import runner

    totals: dict[str, float] = {}
    lock = threading.Lock()

    def timed(owner: Any, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                with lock:
                    totals[stage] = totals.get(stage, 0.0) + spent

        setattr(owner, attribute, wrapper)

    searcher, gateway = session.searcher, session.gateway
    assert searcher is not None and gateway is not None
    timed(searcher, "search", "retrieval: BM25 search (query terms, batched scoring)")
    timed(searcher, "documents", "retrieval: bundle texts")
    timed(searcher, "add", "adds: corpus append and index")
    timed(gateway, "_post", "HTTP: request and response")
    timed(files, "append_lines", "log: JSONL append and fsync (group commit)")
    timed(runner, "build", "prompt")
    timed(gateset.GateSet, "check", "gates")
    timed(runner, "replay_calls", "calls and gates, in all (HTTP and gates included)")
    return totals


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def mirrored_runs(layout: Layout) -> int:
    with db.catalog(layout.catalog, read_only=True) as con:
        return con.execute("SELECT count(*) FROM replay_runs").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument(
        "--root", type=Path, default=None, help="root to load (default: a fresh temporary one)"
    )
    parser.add_argument("--docs", type=int, default=2000, help="corpus documents to prepare (default 2000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument(
        "--class", dest="classes", action="append", choices=CLASSES, help="drive only this class (repeatable)"
    )
    parser.add_argument("--stages", action="store_true", help="also measure CPU per scenario by stage")
    parser.add_argument(
        "--each-class",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after the mix, drive each class alone for SECONDS (rate, CPU per scenario, p50)",
    )
    args = parser.parse_args()

    temporary = tempfile.TemporaryDirectory(prefix="lh-load-") if args.root is None else None
    root = Path(temporary.name) if temporary else args.root
    root.mkdir(parents=True, exist_ok=True)
    layout = open_root(root, create=True)
    stub, url = start_stub()
    try:
        rng = random.Random(args.seed)
        prepare_start = time.perf_counter()
        documents = prepare_corpus(layout, args.docs, rng)
        catalog.sync(layout)
        prepare_s = time.perf_counter() - prepare_start
        logged_before, mirrored_before = count_lines(layout.replay_runs), mirrored_runs(layout)

        def progress(done: int) -> None:
            print(f"  {done:,} scenarios ...", file=sys.stderr, flush=True)

        with batch.Session(layout, url=url, writable=True) as session:
            if session.warning:
                print(f"warning: {session.warning}", file=sys.stderr)
            scenarios = Scenarios(session, documents, url, args.seed)
            timers = stage_timers(session) if args.stages else None
            outcome = drive(scenarios, args.concurrency, args.duration, progress, args.classes or CLASSES)
            alone = {
                name: drive(scenarios, args.concurrency, args.each_class, progress, [name])
                for name in (CLASSES if args.each_class else [])
            }
        sync_start = time.perf_counter()
        catalog.sync(layout)
        sync_s = time.perf_counter() - sync_start
        logged = count_lines(layout.replay_runs) - logged_before
        mirrored = mirrored_runs(layout) - mirrored_before
        log_bytes = size_of(layout.replay_runs)
    finally:
        stub.kill()
        stub.wait()
        stub_cpu_s = cpu_seconds(resource.RUSAGE_CHILDREN)
        if temporary:
            temporary.cleanup()

    result = report(args, outcome, logged, mirrored, prepare_s, sync_s, log_bytes)
    result["cpu_s"] = {"replay_process": round(outcome["cpu_s"], 1), "stub_process": round(stub_cpu_s, 1)}
    # the stub's CPU is read once it has exited: over the mix and the classes alone
    every_scenario = result["scenarios"] + sum(
        sum(len(v) for v in o["latencies"].values()) for o in alone.values()
    )
    result["cpu_ms_per_scenario"] = {
        "replay_process": round(outcome["cpu_s"] * 1000 / max(result["scenarios"], 1), 3),
        "stub_process": round(stub_cpu_s * 1000 / max(every_scenario, 1), 3),
    }
    if alone:  # their replays are logged too: logged = mirrored = replays of the mix and of these
        result["replays"] += sum(len(o["latencies"][n]) for n, o in alone.items() if n in REPLAY_CLASSES)
        result["classes_alone"] = {
            name: {
                "rate_per_s": round(len(o["latencies"][name]) / o["elapsed_s"], 1),
                "cpu_ms_per_scenario": round(o["cpu_s"] * 1000 / max(len(o["latencies"][name]), 1), 3),
                "p50_ms": round(statistics.median(o["latencies"][name]), 2) if o["latencies"][name] else 0.0,
                "unexpected": len(o["unexpected"][name]),
            }
            for name, o in alone.items()
        }
    if timers is not None:
        result["stages_cpu_ms_per_scenario"] = {
            name: round(seconds * 1000 / max(result["scenarios"], 1), 3) for name, seconds in timers.items()
        }
    print_table(result)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


def report(
    args: argparse.Namespace,
    outcome: dict,
    logged: int,
    mirrored: int,
    prepare_s: float,
    sync_s: float,
    log_bytes: int,
) -> dict[str, Any]:
    latencies, unexpected = outcome["latencies"], outcome["unexpected"]
    scenarios = sum(len(v) for v in latencies.values())
    replays = sum(len(latencies[name]) for name in REPLAY_CLASSES)
    return {
        "benchmark": "load",
        "scenarios": scenarios,
        "replays": replays,
        "rate_per_s": round(scenarios / outcome["elapsed_s"], 1),
        "duration_s": round(outcome["elapsed_s"], 2),
        "concurrency": args.concurrency,
        "classes": {
            name: {
                "count": len(latencies[name]),
                "unexpected": len(unexpected[name]),
                "p50_ms": round(statistics.median(latencies[name]), 2) if latencies[name] else 0.0,
                "p95_ms": round(percentile(latencies[name], 0.95), 2),
                "first_unexpected": unexpected[name][0] if unexpected[name] else None,
            }
            for name in CLASSES
            if latencies[name]
        },
        "logged": logged,
        "mirrored": mirrored,
        "corpus_docs": args.docs,
        "prepare_s": round(prepare_s, 2),
        "sync_after_s": round(sync_s, 3),
        "log_mib": round(log_bytes / 2**20, 1),
        "only_classes": args.classes,
        "targets": {
            "rate_per_s": TARGET_RATE,
            "rate_per_s_on_a_slow_hour": TARGET_RATE_ON_A_SLOW_HOUR,
            "cpu_ms_per_scenario": TARGET_CPU_MS,
        },
        "machine": machine(),
    }


def print_table(result: dict[str, Any]) -> None:
    out = sys.stderr
    print(
        f"{result['scenarios']:,} scenarios in {result['duration_s']} s at concurrency {result['concurrency']}: "
        f"{result['rate_per_s']}/s (target {TARGET_RATE}/s)",
        file=out,
    )
    print(f"{'class':<24} {'count':>7} {'unexpected':>10} {'p50 ms':>8} {'p95 ms':>8}", file=out)
    for name, c in result["classes"].items():
        print(f"{name:<24} {c['count']:>7} {c['unexpected']:>10} {c['p50_ms']:>8} {c['p95_ms']:>8}", file=out)
        if c["first_unexpected"]:
            print(f"    first unexpected: {c['first_unexpected']}", file=out)
    print(
        f"replays {result['replays']:,}, logged {result['logged']:,}, mirrored {result['mirrored']:,}",
        file=out,
    )


if __name__ == "__main__":
    main()
