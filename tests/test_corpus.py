"""The RAG corpus: distilled from playbooks, user documents added, BM25 retrieval as fts ranks."""

from __future__ import annotations

import gc
import hashlib
import json
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import invoke, varied_documents, write_stream

from lakehouse import pipeline, retrieval
from lakehouse.core import collector, db
from lakehouse.core.errors import StorageError, UsageError
from lakehouse.core.files import dumps
from lakehouse.core.paths import Layout, open_root
from lakehouse.core.types import Document
from lakehouse.ingest import evidence
from lakehouse.retrieval import corpus

pytestmark = pytest.mark.fast


def playbook(pid: str, version: int, title: str, steps: list[str], day: int = 1) -> dict:
    return {
        "ts": f"2026-05-{day:02d}T10:00:00Z",
        "playbook_id": pid,
        "version": version,
        "title": title,
        "steps": steps,
        "tags": ["ops"],
    }


def corpus_lines(layout: Layout) -> list[dict]:
    return [json.loads(line) for line in layout.rag_corpus.read_text().splitlines()]


ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # lone surrogates: not UTF-8
DOCUMENTS = st.builds(
    Document,
    ANY_TEXT,
    ANY_TEXT | st.none(),
    ANY_TEXT,
    st.lists(ANY_TEXT | st.none(), max_size=3).map(tuple),
    st.lists(ANY_TEXT, max_size=2).map(tuple),
    ANY_TEXT,
)


@given(DOCUMENTS)
def test_a_documents_line_and_hash_are_what_json_dumps_writes(doc: Document) -> None:
    """Written out by hand for speed, the corpus line and the content hash keep json.dumps's exact bytes
    (hashes already stored beside indexes and vectors must not change); a None (a NULL title from SQL)
    takes the encoder's path."""
    assert corpus.corpus_line(doc) == dumps(doc.to_json())
    expected = json.dumps([doc.title, doc.text, list(doc.tags)], ensure_ascii=False)
    assert corpus.content_sha(doc) == hashlib.sha256(expected.encode()).hexdigest()


# strings that SQL and Python write alike, and the characters where they do not (DuckDB writes \u000B)
PLAYBOOK_TEXT = st.text(
    st.characters(exclude_categories=["Cs"]) | st.sampled_from('\x0b\x1f\x00\x1c\n"\\ /é\u2028\u3000aZ'),
    max_size=12,
)


def write_playbook_evidence(layout: Layout, docs: list[tuple[str, str, list[str]]]) -> None:
    """Playbook evidence rows as a materialize writes them: one version of playbook ``pb<i>`` per
    (title, text, tags)."""
    rows = [
        {
            "schema": "evidence_record.v1",
            "evidence_id": f"ev:{i:032x}",
            "kind": "playbook",
            "day": "2026-05-01",
            "ts": "2026-05-01T10:00:00Z",
            "source": {"stream": "playbooks", "path": "data/_kb/playbooks.jsonl", "line": i + 1},
            "text": text,
            "tags": tags,
            "metadata": json.dumps({"playbook_id": f"pb{i}", "version": 1, "title": title}),
            "receipt_id": "mr-test",
        }
        for i, (title, text, tags) in enumerate(docs)
    ]
    table = pa.Table.from_pylist(rows, schema=evidence.EVIDENCE_SCHEMA)
    evidence.write_parquet(table, layout.parquet_day("2026-05-01") / "part-mr-test.parquet")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(PLAYBOOK_TEXT, PLAYBOOK_TEXT, st.lists(PLAYBOOK_TEXT, max_size=3)), max_size=6))
def test_sql_writes_a_playbooks_hash_and_line_as_python_does(
    tmp_path_factory: pytest.TempPathFactory, docs: list[tuple[str, str, list[str]]]
) -> None:
    """Playbooks are distilled in columns: their content hash and corpus line written by SQL. Where SQL says
    it wrote them plainly they are Python's bytes; it says so for every document without the characters it
    writes otherwise; and as documents the rows are what Python's distillation made."""
    layout = open_root(tmp_path_factory.mktemp("root"), create=True)
    write_playbook_evidence(layout, docs)
    rows = corpus.playbooks(layout)
    documents = {d.rag_id: d for d in corpus.documents_of(rows)}
    for row in rows.to_pylist():
        doc = Document(
            row["rag_id"],
            row["title"],
            row["text"],
            tuple(row["tags"]),
            tuple(row["source_evidence_ids"]),
            row["updated_at"],
        )
        if row["plain"]:
            assert row["content_sha"] == corpus.content_sha(doc)
            assert row["line"] == corpus.corpus_line(doc) + "\n"
            assert documents[doc.rag_id] == doc
        written_otherwise = re.search("[\x0b\x0e\x0f\x1a-\x1f]", doc.title + doc.text + "".join(doc.tags))
        if not written_otherwise and re.search("[!-~]", doc.text):
            assert row["plain"]
    expected = {f"rag:pb{i}" for i, (_, text, _) in enumerate(docs) if text.strip()}
    assert set(documents) == expected


def test_a_playbook_sql_cannot_write_as_python_does_is_distilled_by_python(layout: Layout) -> None:
    """A vertical tab in one playbook: SQL would write it \u000b; the batch goes as documents, and the corpus
    holds Python's bytes (\u000b), the same hash in the index."""
    write_stream(
        layout,
        "playbooks",
        [playbook("tab", 1, "Tabs\x0bhere", ["one\x0btwo"]), playbook("plain", 1, "Plain", ["step"])],
    )
    pipeline.materialize(layout)
    lines = layout.rag_corpus.read_text().splitlines()
    assert len(lines) == 2 and "\\u000b" in lines[1] and "\\u000B" not in lines[1]
    docs = corpus.load(layout)
    assert [corpus.corpus_line(d) for d in docs.values()] == lines
    with db.catalog(layout.catalog, read_only=True) as con:
        indexed = dict(con.execute("SELECT rag_id, content_sha FROM rag_corpus").fetchall())
    assert indexed == {rag_id: corpus.content_sha(d) for rag_id, d in docs.items()}


def test_latest_playbook_version_becomes_the_document(layout: Layout) -> None:
    write_stream(
        layout,
        "playbooks",
        [
            playbook("flaky", 2, "Stabilise a flaky test", ["rerun", "bisect"], day=2),
            playbook("flaky", 1, "Old flaky advice", ["pray"]),
            playbook("leak", 1, "Hunt a memory leak", ["heap profile"]),
        ],
    )
    pipeline.materialize(layout)
    docs = corpus.load(layout)
    assert sorted(docs) == ["rag:flaky", "rag:leak"]
    assert docs["rag:flaky"].title == "Stabilise a flaky test"
    assert docs["rag:flaky"].text == "Stabilise a flaky test\n1. rerun\n2. bisect"
    assert docs["rag:flaky"].source_evidence_ids[0].startswith("ev:")
    before = layout.rag_corpus.read_bytes()
    write_stream(layout, "model_calls", [{"ts": "2026-05-03T00:00:00Z", "call_id": "c"}])
    pipeline.materialize(layout)
    assert layout.rag_corpus.read_bytes() == before  # nothing new about playbooks: nothing appended
    write_stream(
        layout, "playbooks", [playbook("leak", 2, "Hunt a memory leak", ["heap profile", "diff"], day=3)]
    )
    pipeline.materialize(layout)
    assert len(corpus_lines(layout)) == 3 and corpus.load(layout)["rag:leak"].text.endswith("2. diff")


def test_a_run_whose_only_playbook_text_python_finds_blank_does_no_corpus_work(layout: Layout) -> None:
    """SQL keeps a text of an ideographic space (not ASCII white space); Python's strip() finds it blank, so it
    is no document: the run neither distils nor takes the corpus lock (its corpus time stays 0)."""
    write_stream(layout, "playbooks", [playbook("leak", 1, "Hunt a memory leak", ["heap profile"])])
    pipeline.materialize(layout)
    before = layout.rag_corpus.read_bytes()
    write_stream(layout, "playbooks", [playbook("blank", 1, "\u3000", [], day=2)])
    outcome = pipeline.materialize(layout)
    assert outcome.receipt["totals"]["emitted"] == 1  # the playbook is evidence
    assert (outcome.corpus_added, outcome.corpus_ms) == (0, 0)
    assert layout.rag_corpus.read_bytes() == before


def test_a_playbook_without_text_is_no_document_and_breaks_nothing(
    layout: Layout, runner: CliRunner, tmp_path: Path
) -> None:
    """A playbook line without title and steps was distilled as ``"text": null``, which the corpus reader
    refuses: every later corpus add, search and replay of the root failed (exit 4). Such a version is no
    document (the latest with a text is), and a corpus file an earlier version wrote that way reads."""
    bare = {"ts": "2026-05-01T10:00:00Z", "playbook_id": "bare", "version": 1}
    write_stream(
        layout,
        "playbooks",
        [
            bare,
            playbook("blank", 1, " ", []),
            playbook("leak", 1, "Hunt a memory leak", ["heap profile"]),
            playbook("leak", 2, "", [], day=2),  # the latest version without text: version 1 stays current
        ],
    )
    pipeline.materialize(layout)
    assert [(d["rag_id"], d["text"]) for d in corpus_lines(layout)] == [
        ("rag:leak", "Hunt a memory leak\n1. heap profile")
    ]
    with layout.rag_corpus.open("a") as handle:  # as earlier versions distilled the bare playbook
        handle.write(
            dumps(
                {
                    "rag_id": "rag:bare",
                    "title": "",
                    "text": None,
                    "tags": [],
                    "source_evidence_ids": [],
                    "updated_at": "",
                }
            )
            + "\n"
        )
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"rag_id": "rag:vpn", "title": "VPN", "text": "restart the tunnel"}) + "\n")
    added = invoke(runner, "corpus", "add", str(source), "--root", str(layout.root))
    assert added.exit_code == 0 and "1 documents added or updated" in added.stderr, added.output
    assert sorted(corpus.load(layout)) == ["rag:leak", "rag:vpn"]
    found = invoke(runner, "corpus", "search", "memory leak tunnel", "--root", str(layout.root), "--json")
    assert [r["rag_id"] for r in json.loads(found.stdout)["results"]] == ["rag:leak", "rag:vpn"]


def test_corpus_is_distilled_again_when_its_bookkeeping_or_file_is_gone(layout: Layout) -> None:
    write_stream(
        layout, "playbooks", [playbook("flaky", 1, "Flaky", ["rerun"]), playbook("leak", 1, "Leak", ["heap"])]
    )
    pipeline.materialize(layout)
    state = layout.state_dir / "corpus_distilled.json"
    written = layout.rag_corpus.read_bytes()
    assert len(corpus_lines(layout)) == 2 and state.exists()
    for damage in ("missing", "garbage"):  # every playbook compared again: none changed, nothing appended
        state.unlink() if damage == "missing" else state.write_text("{not json")
        write_stream(layout, "model_calls", [{"ts": "2026-05-03T00:00:00Z", "call_id": damage}])
        pipeline.materialize(layout)
        assert layout.rag_corpus.read_bytes() == written and json.loads(state.read_text())[
            "corpus_bytes"
        ] == len(written)
    layout.rag_corpus.unlink()  # removed by hand: distilled again from the evidence
    write_stream(layout, "model_calls", [{"ts": "2026-05-03T00:00:00Z", "call_id": "again"}])
    pipeline.materialize(layout)
    assert sorted(corpus.load(layout)) == ["rag:flaky", "rag:leak"]


def test_an_add_compares_with_the_file_when_the_index_is_behind_it(layout: Layout) -> None:
    """Documents are compared with the index's content hashes only when the index covers the whole file;
    a line the index has not taken in (a killed add) is compared from the file itself."""
    retrieval.add_documents(layout, [Document("rag:a", "A", "first text")], corpus.AddReport())
    newer = Document("rag:a", "A", "second text", (), (), "2026-05-01T00:00:00Z")
    with layout.rag_corpus.open("a") as handle:
        handle.write(corpus.corpus_line(newer) + "\n")
    report = corpus.AddReport()
    retrieval.add_documents(layout, [Document("rag:a", "A", "second text")], report)
    assert report.unchanged == ["rag:a"] and report.added == []
    again = corpus.AddReport()  # the index caught up: compared by its hashes
    retrieval.add_documents(
        layout, [Document("rag:a", "A", "second text"), Document("rag:b", "B", "b")], again
    )
    assert again.unchanged == ["rag:a"] and again.added == ["rag:b"]


def test_corpus_add_is_idempotent_and_reports_bad_lines(
    layout: Layout, runner: CliRunner, tmp_path: Path
) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(
        json.dumps({"title": "Rotate certificates", "text": "issue new certificates before expiry"})
        + "\n"
        + json.dumps({"rag_id": "rag:vpn", "title": "VPN", "text": "restart the tunnel", "tags": ["net"]})
        + "\n"
        + "not json\n"
        + json.dumps({"rag_id": "bad id", "text": "x"})
        + "\n"
        + json.dumps({"title": "no text"})
        + "\n"
    )
    result = invoke(runner, "corpus", "add", str(source), "--root", str(layout.root))
    assert result.exit_code == 0, result.output
    assert "2 documents added or updated, 0 unchanged, 3 lines skipped" in result.stderr
    assert f"skipped {source}:3: invalid JSON" in result.stderr
    assert f"skipped {source}:4: rag_id 'bad id'" in result.stderr
    assert f"skipped {source}:5: 'text' must be a non-empty string" in result.stderr
    derived = corpus.derived_rag_id("Rotate certificates", "issue new certificates before expiry")
    assert sorted(corpus.load(layout)) == sorted(["rag:vpn", derived])
    size = layout.rag_corpus.stat().st_size
    again = invoke(runner, "corpus", "add", str(source), "--root", str(layout.root))
    assert "0 documents added or updated, 2 unchanged" in again.stderr
    assert layout.rag_corpus.stat().st_size == size


def test_corpus_add_reads_lone_values_as_lists_and_a_byte_order_mark(
    layout: Layout, runner: CliRunner, tmp_path: Path
) -> None:
    """What hurried users and Windows tools write: a BOM, a single tag as a string, one source id as a
    string (once split into its characters), a number as id; a dict where a list belongs is refused."""
    source = tmp_path / "docs.jsonl"
    lines = [
        {"rag_id": "rag:a", "text": "first", "tags": "deploy", "source_evidence_ids": "ev:123"},
        {"rag_id": "rag:b", "text": "second", "tags": ["x", "y"], "source_evidence_ids": [7, "ev:8"]},
        {"rag_id": "rag:c", "text": "third", "source_evidence_ids": {"ev:1": True}},
        {"rag_id": "rag:d", "text": "fourth", "tags": [True]},
    ]
    source.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(line) + "\n" for line in lines).encode())
    result = invoke(runner, "corpus", "add", str(source), "--root", str(layout.root))
    assert result.exit_code == 0, result.output
    assert "2 documents added or updated, 0 unchanged, 2 lines skipped" in result.stderr, result.stderr
    assert f"skipped {source}:3: 'source_evidence_ids' must be a list of ids" in result.stderr
    assert f"skipped {source}:4: 'tags' must be a list of strings" in result.stderr
    docs = corpus.load(layout)
    assert docs["rag:a"].tags == ("deploy",) and docs["rag:a"].source_evidence_ids == ("ev:123",)
    assert docs["rag:b"].tags == ("x", "y") and docs["rag:b"].source_evidence_ids == ("7", "ev:8")


def test_added_document_is_found_by_the_next_query(layout: Layout, runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text(
        json.dumps({"rag_id": "rag:kafka", "title": "Kafka lag", "text": "consumer lag grows"}) + "\n"
    )
    invoke(runner, "corpus", "add", str(source), "--root", str(layout.root))
    result = invoke(runner, "corpus", "search", "consumer lag", "--root", str(layout.root), "--json")
    [line] = result.stdout.splitlines()
    payload = json.loads(line)
    assert payload["query"] == "consumer lag" and payload["results"][0]["rag_id"] == "rag:kafka"
    assert payload["took_ms"] >= 0
    source.write_text(
        json.dumps({"rag_id": "rag:kafka", "title": "Kafka lag", "text": "partition rebalancing"}) + "\n"
    )
    invoke(runner, "corpus", "add", str(source), "--root", str(layout.root))
    gone = json.loads(
        invoke(runner, "corpus", "search", "consumer", "--root", str(layout.root), "--json").stdout
    )
    found = json.loads(
        invoke(runner, "corpus", "search", "rebalancing", "--root", str(layout.root), "--json").stdout
    )
    assert gone["results"] == [] and [r["rag_id"] for r in found["results"]] == ["rag:kafka"]


def test_search_queries_file_prints_one_json_line_per_query(
    layout: Layout, runner: CliRunner, tmp_path: Path
) -> None:
    retrieval.add_documents(
        layout,
        [
            Document("rag:a", "alpha", "backup restore drill"),
            Document("rag:b", "beta", "certificate rotation"),
        ],
        corpus.AddReport(),
    )
    queries = tmp_path / "q.txt"
    queries.write_text("backup drill\n\ncertificate\nunknownword\n")
    result = invoke(
        runner, "corpus", "search", "--queries", str(queries), "-k", "1", "--root", str(layout.root)
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["query"], [r["rag_id"] for r in x["results"]]) for x in lines] == [
        ("backup drill", ["rag:a"]),
        ("certificate", ["rag:b"]),
        ("unknownword", []),
    ]


def test_malformed_corpus_line_is_an_error_naming_the_line(layout: Layout) -> None:
    layout.rag_corpus.write_text(json.dumps({"rag_id": "rag:a", "title": "t", "text": "x"}) + "\n{broken\n")
    with pytest.raises(StorageError, match=r"rag_corpus.jsonl:2 is not valid JSON"):
        corpus.load(layout)


def test_search_on_a_root_without_corpus_is_empty(layout: Layout, runner: CliRunner) -> None:
    result = invoke(runner, "corpus", "search", "anything", "--root", str(layout.root), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["results"] == []


def test_search_needs_query_or_file(layout: Layout, runner: CliRunner) -> None:
    result = invoke(runner, "corpus", "search", "--root", str(layout.root))
    assert result.exit_code == 2 and "give either QUERY or --queries FILE" in result.stderr


def test_writable_searcher_finds_what_many_threads_just_added(layout: Layout) -> None:
    retrieval.add_documents(layout, varied_documents("a", 20, "timeout"), corpus.AddReport())
    letters = "bcdfghjklmnpqrstvwxz"

    def add_then_search(searcher: retrieval.Searcher, i: int) -> tuple[list[str], str]:
        marker = "zq" + "".join(letters[int(d)] for d in f"{i:03d}")
        report = corpus.AddReport()
        searcher.add(
            [Document(f"rag:t{i:03d}", f"about {marker}", f"when {marker} breaks, restart it")], report
        )
        hits, _ = searcher.search(marker, 3)
        return report.added, hits[0].rag_id if hits else ""

    with retrieval.Searcher(layout, writable=True) as searcher:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: add_then_search(searcher, i), range(40)))
        # A new version of an added document replaces it (the SQL path): the old words no longer find it.
        searcher.add([Document("rag:t000", "renamed", "completely different words")], corpus.AddReport())
        assert searcher.search("zqbbb", 3)[0] == []
        assert searcher.search("completely different", 3)[0][0].rag_id == "rag:t000"
    assert results == [([f"rag:t{i:03d}"], f"rag:t{i:03d}") for i in range(40)]
    assert len(corpus.load(layout)) == 60
    with retrieval.Searcher(layout) as reader:  # the catalog's index holds them, and is current
        assert reader.search("zqbbc", 3)[0][0].rag_id == "rag:t001"
        with db.catalog(layout.catalog, read_only=True) as con:
            assert retrieval.is_current(con, layout)


def test_adds_flushed_together_report_as_if_appended_one_after_the_other(layout: Layout) -> None:
    """Concurrent adds coalesced into one append (one write, one fsync): each add's report is what
    appending them in turn would say, and the file's last version of each document wins."""
    first, again, changed = (
        Document("rag:a", "A", "alpha"),
        Document("rag:a", "A", "alpha"),
        Document("rag:a", "A", "beta"),
    )
    reports = [corpus.AddReport() for _ in range(3)]
    before = layout.rag_corpus.stat().st_size if layout.rag_corpus.exists() else 0
    written = corpus.append_batches(
        layout,
        [
            ([first], reports[0]),
            ([again, Document("rag:b", "B", "bravo")], reports[1]),
            ([changed], reports[2]),
        ],
    )
    assert [(r.added, r.unchanged) for r in reports] == [
        (["rag:a"], []),
        (["rag:b"], ["rag:a"]),
        (["rag:a"], []),
    ]
    assert [(d.rag_id, d.text) for d in written] == [
        ("rag:a", "alpha"),
        ("rag:b", "bravo"),
        ("rag:a", "beta"),
    ]
    assert layout.rag_corpus.read_bytes()[before:].count(b"\n") == 3
    assert {rag_id: d.text for rag_id, d in corpus.load(layout).items()} == {
        "rag:a": "beta",
        "rag:b": "bravo",
    }
    again_reports = [corpus.AddReport(), corpus.AddReport()]
    rewritten = corpus.append_batches(layout, [([changed], again_reports[0]), ([first], again_reports[1])])
    assert [(d.rag_id, d.text) for d in rewritten] == [("rag:a", "alpha")]
    assert again_reports[0].unchanged == ["rag:a"] and again_reports[1].added == ["rag:a"]


def test_a_corpus_write_that_fails_leaves_the_index_as_it_was(layout: Layout, tmp_path: Path) -> None:
    """The index takes in documents while their lines are written (on a thread of their own): a write that
    fails rolls the index back, and the next add writes and indexes them as if the failed one never ran."""
    layout.rag_corpus.unlink(missing_ok=True)
    layout.rag_corpus.symlink_to(tmp_path / "gone" / "rag_corpus.jsonl")  # appending cannot create it
    docs = varied_documents("a", 50, "timeout")
    report = corpus.AddReport()
    with pytest.raises(StorageError, match=r"cannot open .* for appending"):
        retrieval.add_documents(layout, docs, report)
    assert report.added == []
    with db.catalog(layout.catalog, read_only=True) as con:  # made, but holding nothing of the failed add
        assert con.execute("SELECT count(*) FROM rag_corpus").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM rag_index_state").fetchone() == (0,)
    layout.rag_corpus.unlink()
    again = corpus.AddReport()
    assert retrieval.add_documents(layout, docs, again) is None
    assert again.added == [d.rag_id for d in docs]
    assert len(corpus.load(layout)) == 50
    with retrieval.Searcher(layout, catch_up=False) as reader:
        assert reader.search("timeout", 3)[0]
        with db.catalog(layout.catalog, read_only=True) as con:
            assert retrieval.is_current(con, layout)
            assert con.execute("SELECT count(*) FROM rag_corpus").fetchone() == (50,)


@pytest.mark.slow
def test_an_add_while_the_catalog_is_held_writes_its_documents_and_says_the_index_is_behind(
    layout: Layout, tmp_path: Path
) -> None:
    """The catalog held by another process (an analyst): the documents are written and the add warns; a write
    that fails meanwhile is the error told. The next add catches the index up with the file."""
    retrieval.add_documents(layout, [Document("rag:a", "A", "alpha text")], corpus.AddReport())
    analyst = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(60)",
            str(layout.catalog),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert analyst.stdout is not None and analyst.stdout.readline().strip() == b"open"
        report = corpus.AddReport()
        warning = retrieval.add_documents(layout, [Document("rag:b", "B", "bravo text")], report)
        assert warning is not None and "the retrieval index is behind" in warning
        assert report.added == ["rag:b"] and sorted(corpus.load(layout)) == ["rag:a", "rag:b"]
        written = layout.rag_corpus.read_bytes()
        layout.rag_corpus.unlink()
        layout.rag_corpus.symlink_to(tmp_path / "gone" / "rag_corpus.jsonl")
        with pytest.raises(StorageError, match=r"cannot open .* for appending"):
            retrieval.add_documents(layout, [Document("rag:c", "C", "charlie text")], corpus.AddReport())
        layout.rag_corpus.unlink()
        layout.rag_corpus.write_bytes(written)
    finally:
        analyst.kill()
        analyst.communicate()
    again = corpus.AddReport()
    assert retrieval.add_documents(layout, [Document("rag:c", "C", "charlie text")], again) is None
    assert again.added == ["rag:c"]
    with retrieval.Searcher(layout, catch_up=False) as reader:
        assert [hit.rag_id for hit in reader.search("bravo", 3)[0]] == ["rag:b"]
        with db.catalog(layout.catalog, read_only=True) as con:
            assert retrieval.is_current(con, layout)
            assert con.execute("SELECT count(*) FROM rag_corpus").fetchone() == (3,)


def test_read_only_searcher_refuses_adds(layout: Layout) -> None:
    retrieval.add_documents(layout, varied_documents("a", 3, "timeout"), corpus.AddReport())
    with retrieval.Searcher(layout) as searcher, pytest.raises(UsageError, match="read-only"):
        searcher.add([Document("rag:x", "x", "y")], corpus.AddReport())
    assert len(corpus.load(layout)) == 3


def test_reindex_without_an_embedding_model_brings_bm25_up_to_date(
    layout: Layout, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BM25-only root (no embedding model) reindexes what the index lacks instead of being refused."""
    monkeypatch.delenv("LH_EMBEDDING_MODEL", raising=False)
    retrieval.add_documents(layout, [Document("rag:a", "A", "first text")], corpus.AddReport())
    with layout.rag_corpus.open("a") as handle:  # a line the index never took in (a killed add)
        handle.write(
            corpus.corpus_line(Document("rag:b", "B", "kafka consumer lag", (), (), "2026-05-01T00:00:00Z"))
            + "\n"
        )
    done = invoke(runner, "corpus", "reindex", "--root", str(layout.root))
    assert done.exit_code == 0, done.output
    assert "BM25: 1 documents indexed" in done.stderr and "vectors: none (no embedding model" in done.stderr
    found = invoke(runner, "corpus", "search", "kafka lag", "--root", str(layout.root), "--json")
    assert [r["rag_id"] for r in json.loads(found.stdout)["results"]] == ["rag:b"]


def test_the_collector_pause_leaves_the_collector_as_it_found_it() -> None:
    """Bulk record building pauses Python's garbage collector; nested, overlapping on threads or ended by
    an error, the pauses leave it on when it was on and off when a caller had turned it off."""
    assert gc.isenabled()
    with pytest.raises(ValueError), collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause ended, the outer one still holds
        raise ValueError
    assert gc.isenabled()

    inner_started, outer_ended = threading.Event(), threading.Event()
    seen: list[bool] = []

    def overlapping() -> None:
        with collector.paused():
            inner_started.set()
            outer_ended.wait(5)
            seen.append(gc.isenabled())  # the other thread's pause ended first: still paused here

    worker = threading.Thread(target=overlapping)
    with collector.paused():
        worker.start()
        assert inner_started.wait(5)
    outer_ended.set()
    worker.join(5)
    assert seen == [False] and gc.isenabled()

    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
