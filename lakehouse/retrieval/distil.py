"""Playbook evidence distilled into the RAG corpus, run by run.

A materialize (or quarantine retry) whose receipt says it wrote playbook evidence owes the corpus
the latest version of those playbooks. ``data/_state/corpus_distilled.json`` records how far
``receipts.jsonl`` has been distilled, so a run distils only the playbooks that the runs since then
wrote (at 83,333 playbooks, one new playbook cost ~1.5 s when every playbook was distilled and
compared again), and a run killed between its commit and its distillation is made up by the next.
Without that record (a root an earlier version wrote, the corpus file or the receipts log shorter
than recorded) every playbook is distilled: documents that did not change are not appended.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakehouse.core.errors import StorageError
from lakehouse.core.files import atomic_write, complete_end, size_of
from lakehouse.core.paths import Layout
from lakehouse.retrieval import corpus

STATE_SCHEMA = "corpus_distilled.v1"


@dataclass
class Pending:
    """Playbooks the corpus is owed (``corpus.PLAYBOOK_ROWS``), and how far the receipts log is distilled once
    they are added."""

    rows: pa.Table
    receipts_end: int
    recorded: dict[str, int] | None  # the state before (None: nothing usable, every playbook distilled)
    read_ms: int = 0  # how long finding them took

    @property
    def everything(self) -> bool:
        return self.recorded is None


def pending(layout: Layout) -> Pending:
    """The latest version of every playbook written by runs not yet distilled, as rows (``corpus.PLAYBOOK_ROWS``)."""
    started = time.monotonic()
    recorded = _recorded(layout)
    end = complete_end(layout.receipts)  # a receipt being appended is left for later
    if (
        recorded is None
        or recorded["receipts_bytes"] > end
        or recorded["corpus_bytes"] > size_of(layout.rag_corpus)  # the corpus file removed or replaced
    ):
        rows, recorded = corpus.playbooks(layout), None
    else:
        receipt_ids = _playbook_receipts(layout, recorded["receipts_bytes"], end)
        rows = corpus.playbooks(layout, receipt_ids) if receipt_ids else corpus.PLAYBOOK_ROWS.empty_table()
    return Pending(rows, end, recorded, round((time.monotonic() - started) * 1000))


def record(layout: Layout, done: Pending) -> None:
    """The receipts log distilled through ``done.receipts_end`` (after its documents were added)."""
    state = {"receipts_bytes": done.receipts_end, "corpus_bytes": size_of(layout.rag_corpus)}
    if state != done.recorded:
        atomic_write(_state_path(layout), (json.dumps({"schema": STATE_SCHEMA, **state}) + "\n").encode())


def wrote_playbooks(receipt: dict[str, Any]) -> bool:
    """Whether a run's receipt says it wrote playbook evidence."""
    return any(t.get("kind") == "playbook" and t.get("emitted") for t in receipt.get("transforms") or ())


def _state_path(layout: Layout) -> Path:
    return layout.state_dir / "corpus_distilled.json"


def _recorded(layout: Layout) -> dict[str, int] | None:
    """The state file's offsets; None when missing or unreadable (everything is distilled again)."""
    try:
        state = json.loads(_state_path(layout).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
        return None
    offsets = {key: state.get(key) for key in ("receipts_bytes", "corpus_bytes")}
    if not all(type(v) is int and v >= 0 for v in offsets.values()):
        return None
    return offsets  # type: ignore[return-value]


def _playbook_receipts(layout: Layout, start: int, end: int) -> list[str]:
    """The receipt ids of runs between two offsets of the receipts log that wrote playbook evidence."""
    if end <= start:
        return []
    try:
        with open(layout.receipts, "rb") as handle:
            handle.seek(start)
            data = handle.read(end - start)
    except OSError as exc:
        raise StorageError(f"cannot read {layout.receipts}: {exc.strerror}") from exc
    ids = []
    for line in data.splitlines():
        try:
            receipt = json.loads(line)
        except ValueError:
            continue  # not a receipt this version reads: the mirror reports it
        if (
            isinstance(receipt, dict)
            and wrote_playbooks(receipt)
            and isinstance(receipt.get("receipt_id"), str)
        ):
            ids.append(receipt["receipt_id"])
    return ids
