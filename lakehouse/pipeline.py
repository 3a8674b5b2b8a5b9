"""The few functions that chain stages; the CLI and the benchmarks call these, the stages never each other.

- :func:`materialize`: ingest (under the root's lock, the catalog mirrored at the end of it while the playbooks
  the RAG corpus is owed are read), then those distilled into the corpus and indexed, then embedded when a
  model is configured;
- :func:`retry_quarantine`: open quarantined lines through the current transforms, then mirrored and distilled;
- :func:`rebuild`: Parquet parts from the evidence JSONL, then the catalog recreated, under one lock;
- :func:`mirror_runs`: the catalog caught up with the replay log after replays;
- :func:`publish`: what a joined root owes its lake, pushed, or left to a running publisher
  (:mod:`lakehouse.publisher`; :func:`push`: everything, by hand);
- :func:`prune`: evidence days and replay runs before a day removed from the root, then the catalog
  and (with ``lake``) the lake, with a ``prune_receipt.v1``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lakehouse import catalog, lake, retrieval
from lakehouse.catalog import prices
from lakehouse.core import failpoints, outbox
from lakehouse.core.errors import CatalogError, CatalogLockedError, LakehouseError, StorageError
from lakehouse.core.files import append_lines, dumps
from lakehouse.core.paths import Layout
from lakehouse.ingest import evidence, maintenance, retention, retry
from lakehouse.ingest import materialize as ingest
from lakehouse.retrieval import corpus, distil, vectors

Progress = Callable[[str, int, int], None]


def materialize(
    layout: Layout,
    options: ingest.Options | None = None,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
    index_progress: vectors.BuildProgress | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> ingest.Outcome:
    """Materialize what was appended, mirror it, and distil new playbooks into the indexed corpus
    (embedded, and the vector index rebuilt when they outgrew it, with an embedding model).
    ``on_phase`` is told when a step after the ingest starts (``"corpus"``)."""
    options = options or ingest.Options()
    outcome, todo = _committed_and_owed(
        layout, lambda after_commit: ingest.run(layout, options, progress, on_wait, after_commit)
    )
    outcome = _distil(layout, options, outcome, index_progress, on_phase, todo)
    outcome.mirror_warning = outcome.mirror_warning or publish(layout)
    return outcome


def retry_quarantine(
    layout: Layout,
    options: ingest.Options | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> ingest.Outcome:
    """Materialize the open quarantined lines again; what passes is evidence, then mirrored and distilled."""
    outcome, todo = _committed_and_owed(
        layout, lambda after_commit: retry.run(layout, options, None, on_wait, after_commit)
    )
    outcome = _distil(layout, options or ingest.Options(), outcome, todo=todo)
    outcome.mirror_warning = outcome.mirror_warning or publish(layout)
    return outcome


def _committed_and_owed(
    layout: Layout, run: Callable[[Callable[[], str | None]], ingest.Outcome]
) -> tuple[ingest.Outcome, distil.Pending | None]:
    """A run committed (``run`` is given what follows its commit) with the catalog mirrored after it, and what
    the corpus is owed then (None when the run did not commit).

    What is owed is read from the committed evidence on a thread while the catalog is mirrored: the two overlap
    (the read's fetch into records is single-threaded Python, the mirror DuckDB's work). Reading only: a crash
    meanwhile leaves it for the next run, as before. When the mirror fails the read is waited for (about a
    second at 83,333 playbooks), and dropped.
    """
    owed: list[Future[distil.Pending]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lh-distil") as pool:

        def after_commit() -> str | None:
            """After the commit, under the root's lock: the catalog re-pointed (a warning when it is busy)."""
            owed.append(pool.submit(distil.pending, layout))
            return catalog.mirror_after_write(layout, "evidence")

        outcome = run(after_commit)
        return outcome, owed[0].result() if owed else None


def _distil(
    layout: Layout,
    options: ingest.Options,
    outcome: ingest.Outcome,
    index_progress: vectors.BuildProgress | None = None,
    on_phase: Callable[[str], None] | None = None,
    todo: distil.Pending | None = None,
) -> ingest.Outcome:
    """Playbooks that runs wrote since the last distillation into the indexed corpus, then embedded
    (``todo``: what the corpus is owed, when the caller has read it already)."""
    failpoints.hit("before_distil")
    if todo is None:
        todo = distil.pending(layout)
    started = time.monotonic()
    if todo.rows.num_rows or (todo.everything and evidence.parquet_parts(layout)):  # an index even if empty
        if todo.rows.num_rows and on_phase is not None:
            on_phase("corpus")
        added = corpus.AddReport()
        warning = retrieval.add_playbooks(layout, todo.rows, added)
        outcome.corpus_added = len(added.added)
        outcome.corpus_ms = todo.read_ms + round((time.monotonic() - started) * 1000)
        warning = _embed_playbooks(layout, options.embedding_model, added.added, index_progress) or warning
        outcome.mirror_warning = warning or outcome.mirror_warning
    try:
        distil.record(layout, todo)
    except StorageError as exc:  # bookkeeping only: the next run distils these playbooks again
        outcome.mirror_warning = outcome.mirror_warning or f"{exc}; the next materialize distils again"
    return outcome


def _embed_playbooks(
    layout: Layout,
    model_option: str | None,
    rag_ids: list[str],
    index_progress: vectors.BuildProgress | None,
) -> str | None:
    """Embed the playbooks just added; a failure is a warning (they are searchable by BM25)."""
    try:
        report = vectors.embed_with_configured_model(layout, model_option, None, rag_ids, index_progress)
    except LakehouseError as exc:
        return f"playbooks not embedded ({exc}); run 'lakehouse corpus reindex'"
    if report is not None and report.failed:
        return f"{len(report.failed)} playbooks not embedded ({report.messages()[0]}); run 'lakehouse corpus reindex'"
    return None


def rebuild(
    layout: Layout, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> maintenance.RebuildReport:
    """Recreate every Parquet part and the catalog from the evidence JSONL (the durable truth)."""
    return maintenance.rebuild(
        layout, wait=wait, on_wait=on_wait, after_commit=lambda: catalog.rebuild(layout)
    )


def mirror_runs(layout: Layout) -> str | None:
    """Mirror new runs into the catalog (then publish them to the lake, when the root joined one);
    a one-line warning when the catalog is busy or the lake cannot be reached."""
    return catalog.mirror_after_write(layout, "replay run") or publish(layout)


def publish(
    layout: Layout, *, force: bool = False, hand_off: bool = True, kept: lake.KeptLake | None = None
) -> str | None:
    """Publish what the lake is owed, when the root joined one; a one-line warning when it cannot be reached.

    Only when the outbox holds markers a push would clear (or with ``force``, as ``sync`` does), and
    only the tables they owe (a replay's: ``replay_runs``). Callers mirror the catalog first (a push sends what the
    catalog holds); a catalog left behind leaves the markers for the next command. Nothing is lost
    meanwhile: the local files are written first, and publishing is idempotent by key, so the next
    publish (any command's, or ``lakehouse lake push``) sends exactly what is missing. While a
    ``lakehouse lake publisher`` runs for the root, the markers are left to it (``hand_off``), and
    the caller returns without waiting for the lake. ``kept``: the publisher's lake connection.
    """
    config = lake.load(layout)
    owed = outbox.settled(outbox.pending(layout))  # markers still being written or mirrored wait
    if config is None or not (force or owed):
        return None
    if hand_off and not force and outbox.publisher_pid(layout) is not None:
        return None  # the publisher sends them within its interval (lakehouse/publisher.py)
    failpoints.hit("lake_before_publish")
    if any(found.orphaned for found in owed):  # a writer that died left rows in the logs only
        behind = catalog.mirror_after_write(layout, "rows of a writer that died")
        if behind:
            return behind
    if catalog.is_behind(layout):
        return "the lake is behind (the catalog mirror is behind): 'lakehouse sync' catches both up"
    try:
        lake.push(layout, config, None if force else outbox.owed_tables(owed), owed, kept, verify=force)
    except LakehouseError as exc:
        return f"the lake is behind ({exc}); 'lakehouse lake push' catches it up"
    return None


def set_price(layout: Layout, price: prices.Price) -> tuple[list[prices.Price], str | None]:
    """Write the price into data/prices.csv, then into the catalog (and the lake, when joined)."""
    with outbox.owing(layout, "prices", ["prices"]):
        table = prices.set_price(layout, price)
    return table, catalog.mirror_after_write(layout, "price") or publish(layout)


def maintain_lake(
    layout: Layout,
    keep: timedelta = lake.KEEP_SNAPSHOTS,
    grace: timedelta = lake.FILE_GRACE,
    unless_within: timedelta | None = None,
) -> lake.MaintainReport:
    """``lakehouse lake maintain`` (and a publisher's): the lake's hidden rows deleted, files merged,
    snapshots older than ``keep`` expired, files unread for ``grace`` deleted."""
    return lake.maintain(layout, lake.require(layout), keep=keep, grace=grace, unless_within=unless_within)


PRUNE_RECEIPT_SCHEMA = "prune_receipt.v1"


def push(layout: Layout) -> lake.PushReport:
    """``lakehouse lake push``: the catalog caught up with the logs (so that writers that died are
    covered), then every row the lake lacks sent, found against the lake's keys (the root's record of
    what it published rebuilt from them)."""
    config = lake.require(layout)
    owed = outbox.pending(layout)  # before the mirror: a writer that dies after it keeps its marker
    behind = catalog.mirror_after_write(layout, "rows for the lake")
    if behind:
        raise CatalogLockedError(f"{behind}; the lake was not pushed to")
    return lake.push(layout, config, owed=owed, verify=True)


def prune(
    layout: Layout, before: date, *, with_lake: bool = False, on_wait: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Remove evidence days and replay runs before ``before``: the root's files, the catalog's rows and,
    ``with_lake``, the lake's (its old snapshots expired, unreferenced files deleted).

    Returns the ``prune_receipt.v1`` appended to ``data/_kb/prune_receipts.jsonl`` (written even when
    the lake part fails: the root's part is done; the error is raised after it).
    """
    config = lake.require(layout) if with_lake else None
    started = datetime.now(UTC)
    removed = retention.apply(layout, before, on_wait=on_wait)
    runs, warning = 0, None
    try:  # the sync drops the runs before the recorded retention and re-points the evidence view
        runs = catalog.sync(layout).pruned_runs
    except CatalogError as exc:
        warning = f"the catalog's runs before {before} stay until 'lakehouse sync' ({exc})"
    receipt: dict[str, Any] = {
        "schema": PRUNE_RECEIPT_SCHEMA,
        "prune_id": f"prune:{uuid.uuid4().hex[:16]}",
        "before": before.isoformat(),
        "started_at": started.isoformat(),
        "root": str(layout.root),
        "removed": {
            "evidence_days": removed.days,
            "evidence_rows": removed.evidence_rows,
            "files": [layout.relative(path) for path in removed.files],
            "replay_runs": runs,
        },
        "catalog_warning": warning,
        "lake": None,
    }
    failure: LakehouseError | None = None
    if config is not None:
        try:
            receipt["lake"] = vars(lake.prune(layout, config, before))
        except LakehouseError as exc:
            receipt["lake"], failure = {"error": str(exc)}, exc
    receipt["finished_at"] = datetime.now(UTC).isoformat()
    append_lines(layout.prune_receipts, [dumps(receipt)])
    if failure is not None:
        raise failure
    return receipt
