"""The outbox's markers: which a push may clear (settled), and which make it mirror the logs first.

A marker is settled once it says mirrored, or once its writer is gone; a marker this process is still
writing or mirroring is not, so a publisher thread beside a writer thread (the OTLP receiver) never
clears a commit that its push did not read. Real files and real second processes; no lake needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.core import outbox
from lakehouse.core.paths import Layout

pytestmark = pytest.mark.fast


@pytest.fixture
def joined(layout: Layout) -> Layout:
    layout.lake_config.parent.mkdir(parents=True, exist_ok=True)
    layout.lake_config.write_text("{}\n")  # joined() asks only whether the root joined a lake
    layout.lake_outbox.mkdir(parents=True, exist_ok=True)
    return layout


def listed(layout: Layout, path: Path | None) -> outbox.Marker:
    return next(found for found in outbox.pending(layout) if found.path == path)


def test_a_marker_of_this_process_settles_only_once_a_mirror_begun_after_its_commit_finished(
    joined: Layout,
) -> None:
    path = outbox.mark(joined, "replay", ["replay_runs"])
    assert not listed(joined, path).settled  # its rows are being written
    outbox.committed(path)
    assert not listed(joined, path).settled  # in the logs, not yet in the catalog
    covered = outbox.mirroring()
    late = outbox.mark(joined, "replay", ["replay_runs"])
    outbox.committed(late)  # committed while that mirror was reading: it may have missed these rows
    outbox.mirrored(covered)
    found = listed(joined, path)
    assert found.settled and found.mirrored and not found.orphaned
    assert not listed(joined, late).settled
    assert json.loads(path.read_text())["mirrored"] is True
    outbox.mirrored(outbox.mirroring())
    assert listed(joined, late).settled


def test_a_marker_a_push_removed_meanwhile_is_not_written_again(joined: Layout) -> None:
    with outbox.owing(joined, "replay", ["replay_runs"]) as path:
        assert path is not None
    covered = outbox.mirroring()
    path.unlink()  # another process's push cleared it (it could not have: shown for the file's sake)
    outbox.mirrored(covered)
    assert not path.exists()


def test_another_live_writer_settles_by_saying_mirrored_and_a_gone_one_is_mirrored_first(
    joined: Layout,
) -> None:
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        path = joined.lake_outbox / "writer.json"
        entry = {"what": "replay", "tables": ["replay_runs"], "pid": writer.pid}
        path.write_text(json.dumps(entry))  # as an older version wrote them: no "mirrored"
        assert not listed(joined, path).settled
        path.write_text(json.dumps({**entry, "mirrored": True}))
        found = listed(joined, path)
        assert found.settled and not found.orphaned  # alive, but its rows are in the catalog
        path.write_text(json.dumps({**entry, "mirrored": False}))
    finally:
        writer.kill()
        writer.wait()
    found = listed(joined, path)
    assert found.settled and found.orphaned  # gone before saying mirrored: the pusher mirrors the logs first


def test_an_unreadable_marker_owes_every_table_and_is_mirrored_first(joined: Layout) -> None:
    path = joined.lake_outbox / "torn.json"
    path.write_bytes(b'{"what": "replay", "tab')
    found = listed(joined, path)
    assert found.tables is None and found.settled and found.orphaned
    assert outbox.owed_tables([found]) is None
