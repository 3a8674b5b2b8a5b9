"""A materialize killed with SIGKILL at any point, then re-run, ends exactly like a clean run."""

from __future__ import annotations

import json
import random
import shutil
import signal
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import lakehouse_process

from lakehouse import demo, pipeline
from lakehouse.core.files import complete_end, read_jsonl
from lakehouse.core.paths import Layout, open_root

FAILPOINTS = [
    "after_temporaries",
    "before_journal",
    "after_journal",
    "after_first_rename",
    "after_append",
    "before_journal_delete",
    "before_mirror",
]


def seeded_root(path: Path, lines: int) -> Layout:
    path.mkdir(parents=True)
    layout = open_root(path, create=True)
    demo.write_demo_streams(layout, lines=lines, seed=3)
    return layout


def snapshot(layout: Layout) -> dict[str, object]:
    """What a run leaves visible: evidence ids in JSONL, Parquet and catalog, quarantine ids."""
    jsonl_ids = [
        r["evidence_id"]
        for p in sorted(layout.evidence_jsonl.glob("day=*/evidence.jsonl"))
        for r in read_jsonl(p)
    ]
    con = duckdb.connect()
    try:
        glob = (layout.parquet / "day=*" / "*.parquet").as_posix()
        parquet_ids = [
            r[0] for r in con.execute(f"SELECT evidence_id FROM read_parquet('{glob}')").fetchall()
        ]
        con.execute(f"ATTACH '{layout.catalog}' AS lh (READ_ONLY)")
        catalog_ids = [r[0] for r in con.execute("SELECT evidence_id FROM lh.evidence").fetchall()]
        catalog_receipts = sorted(r[0] for r in con.execute("SELECT receipt_id FROM lh.receipts").fetchall())
    finally:
        con.close()
    quarantine_ids = [q["quarantine_id"] for q in read_jsonl(layout.quarantine)]
    return {
        "jsonl": sorted(jsonl_ids),
        "parquet": sorted(parquet_ids),
        "catalog": sorted(catalog_ids),
        "quarantine": sorted(quarantine_ids),
        "temporaries": sorted(p.name for p in layout.evidence.rglob(".*.tmp")),
        "journal": layout.commit_journal.exists(),
        "receipts_mirrored": catalog_receipts == sorted(r["receipt_id"] for r in read_jsonl(layout.receipts)),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    layout = seeded_root(tmp_path_factory.mktemp("ref") / "root", lines=3000)
    pipeline.materialize(layout)
    result = snapshot(layout)
    assert len(result["jsonl"]) > 2900 and len(result["quarantine"]) == 7
    return result


@pytest.mark.slow
@pytest.mark.parametrize("failpoint", FAILPOINTS)
def test_kill_at_each_commit_step_then_rerun_matches_clean_run(
    tmp_path: Path, failpoint: str, reference: dict[str, object]
) -> None:
    layout = seeded_root(tmp_path / "root", lines=3000)
    proc = lakehouse_process("materialize", "--root", str(layout.root), env={"LH_FAILPOINT": failpoint})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    committed = failpoint not in ("after_temporaries", "before_journal")
    assert len(list(read_jsonl(layout.receipts))) <= (1 if committed else 0)
    rerun = lakehouse_process("materialize", "--root", str(layout.root))
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err.decode()
    assert snapshot(layout) == reference
    # A run killed after its commit point is finished by the next one, which then finds nothing new.
    receipts = list(read_jsonl(layout.receipts))
    assert len(receipts) == (2 if committed else 1)
    assert receipts[-1]["totals"]["emitted"] == (0 if committed else len(reference["jsonl"]))


@pytest.mark.slow
def test_kill_at_random_moments_then_rerun_matches_clean_run(
    tmp_path: Path, reference: dict[str, object]
) -> None:
    layout = seeded_root(tmp_path / "root", lines=3000)
    rng = random.Random(11)
    for _ in range(6):
        proc = lakehouse_process("materialize", "--root", str(layout.root))
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    final = lakehouse_process("materialize", "--root", str(layout.root))
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert snapshot(layout) == reference


@pytest.mark.slow
def test_two_materialize_processes_at_once_never_corrupt(
    tmp_path: Path, reference: dict[str, object]
) -> None:
    layout = seeded_root(tmp_path / "root", lines=3000)
    procs = [lakehouse_process("materialize", "--root", str(layout.root)) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode() for o in outputs]
    assert snapshot(layout) == reference
    receipts = list(read_jsonl(layout.receipts))
    assert len(receipts) == 2
    assert sorted(r["totals"]["emitted"] for r in receipts)[0] == 0  # the second one found nothing left to do


def test_second_materialize_with_no_wait_exits_with_a_clear_message(tmp_path: Path) -> None:
    from lakehouse.core.files import exclusive_lock

    layout = seeded_root(tmp_path / "root", lines=200)
    with exclusive_lock(layout.materialize_lock, wait=False):
        proc = lakehouse_process("materialize", "--root", str(layout.root), "--no-wait")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert err.decode().startswith("error: another process (pid ") and "Traceback" not in err.decode()


def test_interrupted_commit_is_finished_by_shutil_copy_of_root(tmp_path: Path) -> None:
    """A root copied while a journal was pending (a backup) finishes the commit where it lands."""
    layout = seeded_root(tmp_path / "root", lines=200)
    proc = lakehouse_process("materialize", "--root", str(layout.root), env={"LH_FAILPOINT": "after_journal"})
    proc.communicate(timeout=60)
    copy = tmp_path / "copy"
    shutil.copytree(layout.root, copy)
    outcome = pipeline.materialize(open_root(copy))
    assert outcome.recovered
    assert outcome.receipt["totals"]["emitted"] == 0
    assert len(list(read_jsonl(open_root(copy).receipts))) == 2


@pytest.mark.slow
def test_killed_between_commit_and_mirror_is_mirrored_by_the_next_run(tmp_path: Path) -> None:
    layout = seeded_root(tmp_path / "root", lines=300)
    pipeline.materialize(layout)
    with open(layout.stream("model_calls"), "a") as handle:
        handle.write('{"ts": "2026-05-02T10:00:00Z", "call_id": "late"}\n')
    proc = lakehouse_process("materialize", "--root", str(layout.root), env={"LH_FAILPOINT": "before_mirror"})
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not snapshot(layout)["receipts_mirrored"]
    pipeline.materialize(layout)  # finds nothing new, but the commit marked the catalog behind
    assert snapshot(layout)["receipts_mirrored"]


@pytest.mark.slow
def test_killed_before_the_corpus_distillation_is_distilled_by_the_next_run(tmp_path: Path) -> None:
    """Playbooks are distilled by the runs after the one that wrote them when it died before (the runs
    since the last distillation are read from the receipts log), and only those are appended."""
    layout = seeded_root(tmp_path / "root", lines=300)
    pipeline.materialize(layout)
    before = layout.rag_corpus.read_bytes()
    latest = {
        "ts": "2026-05-02T10:00:00Z",
        "playbook_id": "late-one",
        "version": 1,
        "title": "Late",
        "steps": ["s"],
    }
    with open(layout.stream("playbooks"), "a") as handle:
        handle.write(json.dumps(latest) + "\n")
    proc = lakehouse_process("materialize", "--root", str(layout.root), env={"LH_FAILPOINT": "before_distil"})
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert layout.rag_corpus.read_bytes() == before  # committed, not distilled
    pipeline.materialize(layout)  # nothing new to materialize; the killed run's playbook is distilled
    appended = layout.rag_corpus.read_bytes()[len(before) :].decode().splitlines()
    assert [json.loads(line)["rag_id"] for line in appended] == ["rag:late-one"]
    pipeline.materialize(layout)
    assert len(layout.rag_corpus.read_bytes()) == len(before) + len(appended[0]) + 1


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.integers(0, 3).map(lambda n: b"ab\n" * (n % 2) + b"x" * (70_000 * n)),  # newline a probe back
    ),
    start_at=st.floats(0, 1),
)
def test_the_end_of_the_last_complete_line_is_found_from_any_start(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, start_at: float
) -> None:
    """What the mirror, the appender's torn-tail cut and the corpus distillation read up to: just past the
    last newline in [start, size), or start where there is none (the shared backwards reader)."""
    path = tmp_path_factory.mktemp("complete") / "log.jsonl"
    path.write_bytes(data)
    start = int(start_at * len(data))
    cut = data.rfind(b"\n", start)
    assert complete_end(path, start, len(data)) == (cut + 1 if cut >= 0 else start)
    assert complete_end(path) == data.rfind(b"\n") + 1
