"""The RAG corpus: ``data/_kb/rag_corpus.jsonl`` (append-only; the last line of a rag_id wins).

Documents come from playbook evidence (``rag:<playbook_id>``, latest version, on every
materialize) and from ``lakehouse corpus add FILE``. A document whose title, text and tags
did not change is not written again, so re-adding the same file changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.core import collector, db
from lakehouse.core.errors import StorageError, UsageError
from lakehouse.core.files import append_bytes, append_lines, dumps, user_jsonl
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load as load_sql
from lakehouse.core.types import Document
from lakehouse.ingest import evidence

RAG_ID = re.compile(r"^rag:[A-Za-z0-9_.\-]+$")


class CorpusError(StorageError):
    """The corpus file cannot be read (an infrastructure failure for replay: exit 4)."""


def content_sha(doc: Document) -> str:
    """The hash of what makes a version (kept in the index and beside vectors: its bytes never change):
    sha256 of ``json.dumps((title, text, tags), ensure_ascii=False)``."""
    if _all_strings(doc):  # the same text written out by hand: the encoder's walk cost twice as much
        tags = ", ".join(map(_json_string, doc.tags))
        encoded = f"[{_json_string(doc.title)}, {_json_string(doc.text)}, [{tags}]]"
    else:
        encoded = _CONTENT_ENCODER.encode(doc.content)
    return hashlib.sha256(encoded.encode()).hexdigest()


def corpus_line(doc: Document) -> str:
    """The document's line of the corpus file: ``dumps(doc.to_json())``."""
    if not _all_strings(doc):
        return dumps(doc.to_json())
    tags = ",".join(map(_json_string, doc.tags))
    sources = ",".join(map(_json_string, doc.source_evidence_ids))
    return (
        f'{{"rag_id":{_json_string(doc.rag_id)},"title":{_json_string(doc.title)},'
        f'"text":{_json_string(doc.text)},"tags":[{tags}],"source_evidence_ids":[{sources}],'
        f'"updated_at":{_json_string(doc.updated_at)}}}'
    )


def _all_strings(doc: Document) -> bool:
    return all(
        type(v) is str
        for v in (doc.rag_id, doc.title, doc.text, doc.updated_at, *doc.tags, *doc.source_evidence_ids)
    )


_CONTENT_ENCODER = json.JSONEncoder(ensure_ascii=False)  # json.dumps(content, ensure_ascii=False), reused
_json_string = encode_basestring  # how both encoders write a string (ensure_ascii=False)


def version(layout: Layout) -> str | None:
    """Which corpus this is: size and mtime of the append-only corpus file (None before the first document)."""
    try:
        stat = layout.rag_corpus.stat()
    except FileNotFoundError:
        return None
    return f"bytes={stat.st_size};mtime_ns={stat.st_mtime_ns}"


def derived_rag_id(title: str, text: str) -> str:
    """A stable id for a document given without one: ``rag:doc-`` + 16 hex of its content."""
    return "rag:doc-" + hashlib.sha256(f"{title}\x1f{text}".encode()).hexdigest()[:16]


def load(layout: Layout) -> dict[str, Document]:
    """The current corpus, by rag_id; a malformed line is an error naming the file and line."""
    reader = CorpusReader(layout.rag_corpus)
    reader.read_new()
    return reader.docs


class CorpusReader:
    """The corpus file read incrementally: its documents so far, and how far it has been read.

    A long-lived reader (a replay session) reads only what was appended since its last call.
    A line still being written (no newline yet) is left for the next call.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.docs: dict[str, Document] = {}
        self.offset = 0
        self._lines = 0

    def read_new(self) -> list[Document]:
        """Read the lines appended since the last call; return their documents, in file order."""
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < self.offset:  # replaced, not appended to
                    self.docs, self.offset, self._lines = {}, 0, 0
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CorpusError(f"cannot read corpus {self.path}: {exc.strerror}") from exc
        complete = data[: data.rfind(b"\n") + 1]
        new = []
        for number, raw in enumerate(complete.splitlines(), start=self._lines + 1):
            if raw.strip() and (doc := self._parse(raw, f"{self.path}:{number}")) is not None:
                new.append(doc)
        self.offset += len(complete)
        self._lines += complete.count(b"\n")
        for doc in new:
            self.docs[doc.rag_id] = doc
        return new

    def _parse(self, raw: bytes, where: str) -> Document | None:
        """The line's document; None for a playbook without text, which earlier versions wrote
        (``"text": null``: nothing to retrieve; an earlier version of it, if any, stays current)."""
        try:
            data = json.loads(raw.decode("utf-8"))
            if isinstance(data, dict) and not _has_text(data.get("text")):
                return None
            return _document(data, where)
        except UnicodeDecodeError as exc:
            raise CorpusError(f"corpus {where} is not UTF-8: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise CorpusError(f"corpus {where} is not valid JSON: {exc.msg}") from exc
        except UsageError as exc:
            raise CorpusError(str(exc)) from exc


def _has_text(text: Any) -> bool:
    return isinstance(text, str) and bool(text.strip())


def _listed(value: Any) -> Any:
    """A list field as given, a lone value as a list of one (``"tags": "deploy"``), nothing as empty."""
    if value is None or value == "":
        return []
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _document(data: Any, where: str, *, derive_id: bool = False) -> Document:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: a document must be a JSON object")
    title, text = data.get("title", ""), data.get("text")
    if not _has_text(text):
        raise UsageError(f"{where}: 'text' must be a non-empty string")
    if not isinstance(title, str):
        raise UsageError(f"{where}: 'title' must be a string")
    rag_id = data.get("rag_id") or (derived_rag_id(title, text) if derive_id else None)
    if not isinstance(rag_id, str) or not RAG_ID.match(rag_id):
        raise UsageError(f"{where}: rag_id {rag_id!r} must be 'rag:' followed by letters, digits, _ - or .")
    tags = _listed(data.get("tags"))
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise UsageError(f"{where}: 'tags' must be a list of strings")
    sources = _listed(data.get("source_evidence_ids"))
    if not isinstance(sources, list) or not all(
        isinstance(s, str | int) and not isinstance(s, bool) for s in sources
    ):
        raise UsageError(f"{where}: 'source_evidence_ids' must be a list of ids")
    return Document(
        rag_id, title, text, tuple(tags), tuple(map(str, sources)), str(data.get("updated_at") or "")
    )


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "file:line: reason"
    not_embedded: list[str] = field(default_factory=list)  # "rag_id: reason" (kept, found by BM25)


def read_user_file(path: Path, report: AddReport) -> list[Document]:
    """Documents of a user's JSONL (``{rag_id?, title, text, tags?}``); bad lines go to ``report.rejected``."""
    docs: list[Document] = []
    for where, data in user_jsonl(path, report.rejected):
        try:
            docs.append(_document(data, where, derive_id=True))
        except UsageError as exc:
            report.rejected.append(str(exc))
    return docs


def append_batches(
    layout: Layout,
    batches: list[tuple[list[Document], AddReport]],
    reader: CorpusReader | None = None,
    indexed: Mapping[str, str] | None = None,
) -> list[Document]:
    """Append the documents of several adds that are new or changed, in order, in one write (one fsync); return
    them (what the index must take in). Each batch's report says what became of its documents, as if the
    batches had been appended one after the other. For ``reader`` and ``indexed`` see :func:`changes`."""
    found = changes(layout, batches, reader, indexed)
    write_changes(layout, found, reader)
    return found.documents


@dataclass
class Changes:
    """What an append will write: each batch's report with its new or changed documents (stamped), by rag_id."""

    per_batch: list[tuple[AddReport, dict[str, Document]]]

    @property
    def documents(self) -> list[Document]:
        return [doc for _, changed in self.per_batch for doc in changed.values()]


def changes(
    layout: Layout,
    batches: list[tuple[list[Document], AddReport]],
    reader: CorpusReader | None = None,
    indexed: Mapping[str, str] | None = None,
) -> Changes:
    """The documents of :func:`append_batches` that are new or changed, to be written by :func:`write_changes`
    (the reports list the unchanged ones now, the added ones once written). Under the corpus lock.

    ``reader`` (kept by a long-lived caller) spares re-reading the file; so does ``indexed``, the content hashes
    of the file's current documents by rag_id (an index that covers the whole file), against which documents
    are then compared.
    """
    if indexed is None:
        reader = reader or CorpusReader(layout.rag_corpus)
        reader.read_new()
        current = reader.docs

        def is_current(doc: Document) -> bool:
            previous = current.get(doc.rag_id)
            return previous is not None and previous.content == doc.content
    else:

        def is_current(doc: Document) -> bool:  # hashed only when the index holds the rag_id
            held = indexed.get(doc.rag_id)
            return held is not None and held == content_sha(doc)

    earlier: dict[str, Document] = {}  # what earlier batches of this call changed (later ones see it)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    found = Changes([])
    with collector.paused():  # a record and a hash a document
        for docs, report in batches:
            changed: dict[str, Document] = {}
            for doc in docs:
                previous = changed.get(doc.rag_id) or earlier.get(doc.rag_id)
                if previous.content == doc.content if previous is not None else is_current(doc):
                    report.unchanged.append(doc.rag_id)
                    continue
                changed[doc.rag_id] = _stamped(doc, now)
            found.per_batch.append((report, changed))
            earlier.update(changed)
    return found


def write_changes(layout: Layout, found: Changes, reader: CorpusReader | None = None) -> int:
    """Append the documents :func:`changes` found, in one write (with its fsync); return the bytes written.
    ``reader``: a long-lived caller's, kept current. Under the corpus lock. It may run on a thread of its own
    (the index meanwhile): the reports' ``added`` lists are filled here, so read them once it has returned."""
    written = found.documents
    if not written:
        return 0
    with collector.paused():  # a line a document (not the file's lock and fsync)
        lines = [corpus_line(d) for d in written]
    size = append_lines(layout.rag_corpus, lines)
    for report, changed in found.per_batch:
        report.added.extend(changed)
    if reader is not None:
        reader.read_new()
    return size


def _stamped(doc: Document, now: str) -> Document:
    if doc.updated_at:
        return doc
    return Document(doc.rag_id, doc.title, doc.text, doc.tags, doc.source_evidence_ids, now)


# A document as a row (retrieval.index takes these in), with its content hash (content_sha).
DOCUMENT_ROWS = pa.schema(
    [
        ("rag_id", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("source_evidence_ids", pa.list_(pa.string())),
        ("updated_at", pa.string()),
        ("content_sha", pa.string()),
    ]
)
# The rows of sql/corpus/playbooks.sql: a document's row, its corpus_line() and a newline, and whether SQL wrote
# the hash and the line as this module does (see the file).
PLAYBOOK_ROWS = pa.schema([*DOCUMENT_ROWS, ("line", pa.string()), ("plain", pa.bool_())])


def playbooks(layout: Layout, receipt_ids: list[str] | None = None) -> pa.Table:
    """The latest version of each playbook in the evidence as document rows (``PLAYBOOK_ROWS``, by rag_id
    ``rag:<playbook_id>``); with ``receipt_ids``, of the playbooks those runs wrote a version of only.

    Every row is a document: the query keeps texts with a non-space, and of those it cannot vouch for (not
    ``plain``), those Python's ``strip()`` finds blank are dropped here, as the corpus file's reader asks."""
    if not evidence.parquet_parts(layout):
        return PLAYBOOK_ROWS.empty_table()
    con = db.memory()
    try:
        params = {"glob": evidence.parquet_glob(layout), "receipt_ids": receipt_ids}
        rows = con.execute(load_sql("corpus/playbooks"), params).to_arrow_table().cast(PLAYBOOK_ROWS)
    finally:
        con.close()
    if pc.all(rows.column("plain")).as_py():  # a plain text holds printable ASCII: never blank
        return rows
    texts = rows.column("text").to_pylist()
    return rows.filter(pa.array([_has_text(text) for text in texts], pa.bool_()))


def documents_of(rows: pa.Table) -> list[Document]:
    """Playbook rows (:func:`playbooks`) as documents."""
    columns = [rows.column(name).to_pylist() for name in DOCUMENT_ROWS.names if name != "content_sha"]
    with collector.paused():  # a record a document
        return [
            Document(rag_id, title, text, tuple(tags), tuple(sources), updated_at)
            for rag_id, title, text, tags, sources, updated_at in zip(*columns, strict=True)
        ]


def write_rows(layout: Layout, rows: pa.Table, report: AddReport) -> int:
    """Append playbook rows' corpus lines (``PLAYBOOK_ROWS`` written ``plain``) in one write, with its fsync, as
    :func:`write_changes` appends documents; return the bytes written. Under the corpus lock."""
    size = append_bytes(layout.rag_corpus, "".join(rows.column("line").to_pylist()).encode())
    report.added.extend(rows.column("rag_id").to_pylist())
    return size
