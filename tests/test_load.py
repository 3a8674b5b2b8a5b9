"""Replays under load: bench/load.py's accounting, group commit of log lines, coalesced work."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lakehouse.core.coalesce import Coalescer
from lakehouse.core.files import GroupAppender
from lakehouse.core.paths import Layout
from lakehouse.replay import ReplayRequest, batch

LOAD = Path(__file__).resolve().parents[1] / "bench" / "load.py"


@pytest.mark.slow
def test_short_load_runs_every_class_as_expected_and_loses_no_run(tmp_path: Path) -> None:
    root = tmp_path / "root"
    proc = subprocess.run(
        [
            sys.executable,
            str(LOAD),
            "--concurrency",
            "6",
            "--duration",
            "3",
            "--docs",
            "150",
            "--root",
            str(root),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    classes = result["classes"]
    assert set(classes) == {
        "grounded",
        "escalated_recovered",
        "no_retrieval",
        "local_only_fail",
        "server_error_recovered",
        "add_then_retrieve",
    }
    assert all(c["count"] > 0 for c in classes.values()), classes
    assert {name: c["unexpected"] for name, c in classes.items()} == dict.fromkeys(classes, 0)
    assert result["scenarios"] == sum(c["count"] for c in classes.values())
    assert result["replays"] == result["scenarios"] - classes["add_then_retrieve"]["count"]
    assert result["logged"] == result["replays"] == result["mirrored"]
    log = (root / "data" / "_kb" / "replay_runs.jsonl").read_text().splitlines()
    assert len(log) == result["replays"] and all(
        json.loads(line)["schema"] == "replay_run.v1" for line in log
    )
    assert "scenarios in" in proc.stderr  # the human-readable table


@pytest.mark.fast
def test_group_appender_keeps_every_line_whole_across_threads(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    appender = GroupAppender(path)

    def write(worker: int) -> None:
        for i in range(50):
            appender.append(json.dumps({"worker": worker, "i": i, "pad": "x" * (i * 40)}))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((r["worker"], r["i"]) for r in records) == [(w, i) for w in range(16) for i in range(50)]


@pytest.mark.fast
def test_session_replays_append_their_log_lines_through_its_group_appender(layout: Layout) -> None:
    flushed: list[int] = []
    with batch.Session(layout, retrieval_needed=False, gateway_needed=False) as session:
        write = session.appender._write

        def counted(lines: list[str]) -> None:
            flushed.append(len(lines))
            write(lines)

        session.appender._group._flush = counted
        requests = [ReplayRequest(task=f"task {i}", dry_run=True, no_retrieval=True) for i in range(40)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            records = list(pool.map(session.replay, requests))
    logged = [json.loads(line) for line in layout.replay_runs.read_text().splitlines()]
    assert sum(flushed) == 40  # every line went through one group commit, none appended on its own
    assert sorted(r["recorded_run_id"] for r in logged) == sorted(r["recorded_run_id"] for r in records)


@pytest.mark.fast
def test_coalescer_batches_waiting_items_and_reports_a_failed_flush_to_each(tmp_path: Path) -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def flush(items: list[int]) -> None:
        batches.append(items)
        if len(batches) == 1:
            release.wait(5)  # the first flush holds on while the others queue up
        if 99 in items:
            raise ValueError("disk full")

    coalescer: Coalescer[int, None] = Coalescer(flush)
    errors: dict[int, str] = {}

    def submit(item: int) -> None:
        try:
            coalescer.submit(item)
        except ValueError as exc:
            errors[item] = str(exc)

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    while not batches:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=submit, args=(item,)) for item in (1, 2, 99)]
    for thread in others:
        thread.start()
    while len(coalescer._queue) < 3:
        threading.Event().wait(0.01)
    release.set()
    for thread in [first, *others]:
        thread.join()
    assert batches[0] == [0] and sorted(batches[1]) == [1, 2, 99] and len(batches) == 2
    assert errors == {1: "disk full", 2: "disk full", 99: "disk full"}


@pytest.mark.fast
def test_coalescer_with_several_flushes_gives_each_caller_its_own_result() -> None:
    running, most, batches = 0, 0, []
    lock = threading.Lock()

    def flush(items: list[int]) -> list[int]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            batches.append(len(items))
        threading.Event().wait(0.002)  # long enough for others to queue up
        with lock:
            running -= 1
        return [item * 2 for item in items]

    coalescer: Coalescer[int, int] = Coalescer(flush, flushes=2)
    answers: dict[int, int | None] = {}

    def submit(worker: int) -> None:
        for i in range(100):
            item = worker * 1000 + i
            answers[item] = coalescer.submit(item)

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert answers == {w * 1000 + i: (w * 1000 + i) * 2 for w in range(16) for i in range(100)}
    assert most == 2 and max(batches) > 1 and sum(batches) == 1600


def test_a_document_added_mid_batch_is_found_by_the_very_next_query(layout: Layout) -> None:
    """PRODUCT.md §5: while other threads keep the search batches full (one batch scored at a time), every
    added document is the top hit of the adding thread's next query, and its bundle text is the one added."""
    from lakehouse.core.types import Document
    from lakehouse.retrieval import corpus

    seed = [
        Document(f"rag:seed-{i}", f"Seed {i}", f"restart the worker pool and check queue {i}")
        for i in range(60)
    ]
    with batch.Session(layout, gateway_needed=False, writable=True) as session:
        session.add_documents(seed, corpus.AddReport())
        searcher = session.searcher
        assert searcher is not None
        stop = threading.Event()

        def background() -> int:
            done = 0
            while not stop.is_set():
                searcher.search(f"restart the worker pool queue {done % 60}", 5)
                done += 1
            return done

        def add_and_find(number: int) -> tuple[str, str | None, str | None]:
            marker = "".join("bcdfghklmnprstvz"[int(d, 16)] + "a" for d in f"{number:04x}")
            doc = Document(f"rag:added-{number}", f"Added {marker}", f"when {marker} stalls, drain it")
            session.add_documents([doc], corpus.AddReport())
            hits, _ = searcher.search(f"what about {marker}", 3)
            top = hits[0].rag_id if hits else None
            texts = dict((r, t) for r, _, t in searcher.documents([top])) if top else {}
            return doc.rag_id, top, texts.get(top) if top else None

        with ThreadPoolExecutor(12) as pool:
            searches = [pool.submit(background) for _ in range(6)]
            found = list(pool.map(add_and_find, range(40)))
            stop.set()
            assert all(f.result() > 0 for f in searches)
    for rag_id, top, text in found:
        assert top == rag_id
        assert text is not None and text.startswith("when ") and text.endswith("stalls, drain it")
