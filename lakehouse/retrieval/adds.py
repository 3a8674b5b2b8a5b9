"""Adding documents to the corpus: their lines appended to ``data/_kb/rag_corpus.jsonl`` and their rows indexed,
the two at once (:func:`add_documents`; playbooks distilled from evidence, in columns: :func:`add_playbooks`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.core import db
from lakehouse.core.errors import CatalogError
from lakehouse.core.files import exclusive_lock, size_of
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.core.types import Document
from lakehouse.retrieval import corpus
from lakehouse.retrieval.index import INCOMING_SCHEMA, Appended, incoming_rows, is_current, refresh


def add_documents(layout: Layout, docs: list[Document], report: corpus.AddReport) -> str | None:
    """Append new or changed documents to the corpus file and index them, the two at once: the index's
    transaction commits once the documents are on disk, and not when their write fails.

    Returns a one-line warning when the catalog is busy: the documents are in the JSONL and
    are indexed by the next write or ``lakehouse sync``.
    """
    with exclusive_lock(layout.state_dir / _CORPUS_LOCK, wait=True):
        before = size_of(layout.rag_corpus)
        indexed = _indexed_versions(layout, [d.rag_id for d in docs], before)
        return _add_documents_locked(layout, docs, report, before, indexed)


def add_playbooks(layout: Layout, rows: pa.Table, report: corpus.AddReport) -> str | None:
    """:func:`add_documents` for playbook rows (``corpus.PLAYBOOK_ROWS``), kept in columns: their content hashes
    and corpus lines were written by SQL (83,333 playbooks: ~0.9 s of Python each way less). Rows that SQL could
    not write as Python does, or an index that cannot tell which versions it holds, go as documents."""
    with exclusive_lock(layout.state_dir / _CORPUS_LOCK, wait=True):
        before = size_of(layout.rag_corpus)
        rag_ids = rows.column("rag_id").to_pylist()
        indexed = _indexed_versions(layout, rag_ids, before)
        if indexed is None or not pc.all(rows.column("plain")).as_py():
            return _add_documents_locked(layout, corpus.documents_of(rows), report, before, indexed)
        shas = rows.column("content_sha").to_pylist()
        changed = [indexed.get(r) != sha for r, sha in zip(rag_ids, shas, strict=True)]
        report.unchanged.extend(r for r, new in zip(rag_ids, changed, strict=True) if not new)
        new_rows = rows.filter(pa.array(changed, pa.bool_()))
        incoming = new_rows.select(INCOMING_SCHEMA.names).cast(INCOMING_SCHEMA)
        return _write_and_index(layout, before, incoming, lambda: corpus.write_rows(layout, new_rows, report))


# an flock, taken once per add: a second open of it in the same process would wait for the first
_CORPUS_LOCK = "corpus.lock"


def _add_documents_locked(
    layout: Layout,
    docs: list[Document],
    report: corpus.AddReport,
    before: int,
    indexed: dict[str, str] | None,
) -> str | None:
    """:func:`add_documents` under the corpus lock, the file ``before`` bytes long (see :func:`_indexed_versions`)."""
    found = corpus.changes(layout, [(docs, report)], indexed=indexed)
    rows = incoming_rows(found.documents)
    return _write_and_index(layout, before, rows, lambda: corpus.write_changes(layout, found))


def _write_and_index(layout: Layout, before: int, rows: pa.Table, write: Callable[[], int]) -> str | None:
    """Under the corpus lock: the documents' lines written (``write``, returning the bytes it wrote) and their
    ``rows`` indexed, at once.

    The corpus lines are written on a thread while DuckDB indexes their rows (it holds no GIL): the index's
    transaction commits only after the write is on disk, and a failed write rolls it back.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lh-corpus") as pool:
        writing = pool.submit(write)

        def size_after() -> int:
            # what this write added; a file found longer than that is read whole by the next update
            return before + writing.result()

        try:
            refresh(layout, Appended(before, rows, size_after))
        except CatalogError as exc:
            writing.result()  # the documents are written (or their error is the one to tell)
            return f"documents written, but the retrieval index is behind ({exc}); run 'lakehouse sync'"
    return None


def _indexed_versions(layout: Layout, rag_ids: list[str], corpus_bytes: int) -> dict[str, str] | None:
    """The content hashes of the current versions of the documents ``rag_ids``, read from an index that covers
    the corpus file's ``corpus_bytes``: comparing against them spares reading the whole file (0.7 s at 83k documents).
    None when the index cannot tell (behind the file, busy, missing): the file is read then."""
    if not corpus_bytes or not rag_ids:
        return {}  # an empty file, or nothing to compare
    try:
        with db.catalog(layout.catalog, read_only=True, lock_wait_s=0) as con:
            if not is_current(con, layout, corpus_bytes):
                return None
            # the ids as an Arrow table: a list parameter of 83k strings took DuckDB's client 6.5 s
            con.register("wanted", pa.table({"rag_id": rag_ids}))
            return dict(con.execute(load("corpus/content_hashes")).fetchall())
    except (duckdb.Error, CatalogError):
        return None
