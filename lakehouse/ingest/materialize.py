"""``lakehouse materialize``: new stream lines in, evidence out (PRODUCT.md §3.3).

One run, under the root's lock:

1. finish a commit a crash interrupted, delete temporaries of a run that died before it;
2. for each stream, read the bytes appended since the last run (``streams``), stage them
   in a private DuckDB and apply its transforms (``transforms``): evidence rows or
   quarantine reasons;
3. keep each evidence id once, and only if no earlier run wrote it;
4. write each day's Parquet part and JSONL under temporary names (``evidence``);
5. commit through the journal: rename into place, append quarantine, save offsets,
   append the receipt last;
6. run the caller's ``after_commit`` (the pipeline re-points the catalog there).

Distilling playbooks into the RAG corpus comes after, in :mod:`lakehouse.pipeline`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from lakehouse import __version__
from lakehouse.core import db, failpoints, outbox, retention
from lakehouse.core.errors import StorageError, TransformError
from lakehouse.core.files import dumps
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_ident
from lakehouse.ingest import evidence, journal, streams
from lakehouse.ingest.transforms import MAPPED_COLUMNS, Transform, line_limit, load_transforms

RECEIPT_SCHEMA = "materialize_receipt.v1"
Progress = Callable[[str, int, int], None]  # (stream, bytes done, bytes total)


@dataclass
class Options:
    transforms_dir: os.PathLike[str] | None = None
    max_line_bytes: int = streams.DEFAULT_MAX_LINE_BYTES
    wait: bool = True
    memory_limit: str = "512MB"  # DuckDB's buffer pool; it spills to data/_state/duckdb_tmp beyond
    embedding_model: str | None = None  # embed new playbooks (default: $LH_EMBEDDING_MODEL; none: BM25 only)


@dataclass
class Outcome:
    """What a run did: its receipt, and whether the catalog mirror is behind."""

    receipt: dict[str, Any]
    mirror_warning: str | None = None
    recovered: bool = False


LINES_PER_BATCH = 16_384  # rows of a block per Arrow batch: the unit DuckDB's threads take in turn


def new_receipt_id(now: datetime) -> str:
    return f"mr-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(3)}"


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_state(layout: Layout) -> dict[str, streams.FileState]:
    if not layout.materialize_state.exists():
        return {}
    try:
        data = json.loads(layout.materialize_state.read_text(encoding="utf-8"))
        return {path: streams.FileState.from_json(s) for path, s in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(
            f"materialize state {layout.materialize_state} is unreadable ({exc}); "
            "delete it to re-read every stream (evidence ids prevent duplicates)"
        ) from exc


def run(
    layout: Layout,
    options: Options | None = None,
    progress: Progress | None = None,
    on_wait: Callable[[str], None] | None = None,
    after_commit: Callable[[], str | None] | None = None,
) -> Outcome:
    """Materialize everything appended since the last run; raise ``LakehouseError`` on infrastructure failure.

    ``after_commit`` runs once the run is committed, still under the root's lock (the pipeline
    mirrors the catalog there, which also catches up after a killed run); what it returns is the
    outcome's ``mirror_warning``.
    """
    options = options or Options()
    return committed(layout, options, on_wait, after_commit, lambda ts: _Run(layout, ts, options, progress))


def committed(
    layout: Layout,
    options: Options,
    on_wait: Callable[[str], None] | None,
    after_commit: Callable[[], str | None] | None,
    new_run: Callable[[list[Transform]], _Run],
) -> Outcome:
    """One run made by ``new_run`` from the transforms, executed and committed under the root's lock."""
    transforms = load_transforms(options.transforms_dir)
    with journal.exclusive_root(layout, wait=options.wait, on_wait=on_wait) as recovered:
        receipt = new_run(transforms).execute()
        failpoints.hit("before_mirror")
        warning = after_commit() if after_commit else None
    return Outcome(receipt=receipt, mirror_warning=warning, recovered=recovered)


def wrote_playbooks(receipt: dict[str, Any]) -> bool:
    """Whether a run's receipt says it wrote playbook evidence (the RAG corpus is distilled from it)."""
    return any(t["kind"] == "playbook" and t["emitted"] for t in receipt["transforms"])


class _Run:
    """One materialize run's scratch state; ``execute`` returns the committed receipt."""

    def __init__(
        self, layout: Layout, transforms: list[Transform], options: Options, progress: Progress | None
    ) -> None:
        self.layout = layout
        self.transforms = transforms
        self.options = options
        self.progress = progress
        self.started = datetime.now(UTC)
        self.clock = time.perf_counter()
        self.receipt_id = new_receipt_id(self.started)
        self.state = load_state(layout)
        self.new_state = dict(self.state)
        self.inputs: list[dict[str, Any]] = []
        self.quarantine: list[dict[str, Any]] = []
        self.kept_from = retention.kept_from(layout)  # days before it were pruned: not written again
        self.stats = [
            {
                "name": t.name,
                "stream": t.stream,
                "kind": t.kind,
                "read": 0,
                "emitted": 0,
                "duplicates": 0,
                "quarantined": 0,
                **({"pruned": 0} if self.kept_from else {}),
            }
            for t in transforms
        ]

    def execute(self) -> dict[str, Any]:
        con = self._scratch_connection()
        try:
            produced = [
                _output_columns(con, t) for t in self.transforms
            ]  # bad transforms fail before any read
            for stream in dict.fromkeys(t.stream for t in self.transforms):
                self._stage_stream(con, stream, produced)
            self._collect_quarantine(con)
            partitions = self._write_fresh(con)
            failpoints.hit("after_temporaries")
        except duckdb.Error as exc:
            raise StorageError(f"materialize failed in DuckDB: {db.one_line(exc)}") from exc
        finally:
            con.close()
        return self._commit(partitions)

    def _scratch_connection(self) -> duckdb.DuckDBPyConnection:
        con = db.memory()
        con.execute(f"SET memory_limit = '{self.options.memory_limit}'")
        con.execute(f"SET temp_directory = '{(self.layout.state_dir / 'duckdb_tmp').as_posix()}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(load("otel/conventions"))  # the otel_spans transform reads attributes through them
        con.execute(load("materialize/tables"))
        return con

    def _stage_stream(self, con: duckdb.DuckDBPyConnection, stream: str, produced: list[set[str]]) -> None:
        path = self.layout.stream(stream)
        if not path.exists():
            return
        rel = self.layout.relative(path)
        read_plan = streams.plan(path, self.state.get(rel))
        if read_plan.size == read_plan.start.offset:
            return
        result = streams.ReadResult()
        lines_table = f"lines_{stream}"
        total = read_plan.size - read_plan.start.offset
        limit = line_limit(self.transforms, stream, self.options.max_line_bytes)
        # Block by block (32 MiB of lines each): staging and mapping a block holds its lines twice over
        # (raw and parsed), so a large backlog (a million spans, 1.3 GB) would not fit the memory limit whole.
        for block in streams.read_new_lines(read_plan, result, max_line_bytes=limit):
            # Scanned straight from Arrow, in batches DuckDB's threads share: a table of one block held a
            # single row group (under 122,880 rows), so staging and mapping ran on one core.
            con.register(lines_table, pa.Table.from_batches(block.to_batches(max_chunksize=LINES_PER_BATCH)))
            try:
                self._apply_transforms(con, stream, lines_table, rel, produced, block.num_rows, 0)
            finally:
                con.unregister(lines_table)
            if self.progress:
                self.progress(stream, block.column("byte_offset")[-1].as_py() - read_plan.start.offset, total)
        self.new_state[rel] = result.end
        self.quarantine.extend(rejected.to_quarantine(stream, rel) for rejected in result.rejected)
        for order, t in enumerate(self.transforms):  # lines rejected before parsing (too long, not UTF-8)
            if t.stream == stream:
                self.stats[order]["read"] += len(result.rejected)
                self.stats[order]["quarantined"] += len(result.rejected)
        self.inputs.append(
            {
                "stream": stream,
                "path": rel,
                "start_offset": read_plan.start.offset,
                "end_offset": result.end.offset,
                "lines": result.lines,
                "blank_lines": result.blank,
                "pending_bytes": result.pending_bytes,
                "reset": read_plan.reset,
            }
        )

    def _apply_transforms(
        self,
        con: duckdb.DuckDBPyConnection,
        stream: str,
        lines_table: str,
        rel: str,
        produced: list[set[str]],
        read: int,
        rejected: int,
    ) -> None:
        """Map staged lines of a stream through each of its transforms (counted in), then drop them."""
        for order, t in enumerate(self.transforms):
            if t.stream == stream:
                quarantined = _apply_transform(con, t, order, lines_table, rel, produced[order])
                self.stats[order]["read"] += read
                self.stats[order]["quarantined"] += quarantined + rejected

    def _inputs_with_quarantine(self) -> list[dict[str, Any]]:
        """Each input with how many of its lines were quarantined and the most frequent reason."""
        reasons: dict[str, list[str]] = {}
        for q in self.quarantine:
            reasons.setdefault(q["path"], []).append(q["reason"])
        return [
            {
                **i,
                "quarantined": len(reasons.get(i["path"], [])),
                "top_reason": _most_frequent(reasons.get(i["path"], [])),
            }
            for i in self.inputs
        ]

    def _collect_quarantine(self, con: duckdb.DuckDBPyConnection) -> None:
        cursor = con.execute("SELECT * FROM new_quarantine")
        names = [d[0] for d in cursor.description]
        self.quarantine.extend(dict(zip(names, row, strict=True)) for row in cursor.fetchall())
        self.quarantine.sort(key=lambda q: (q["path"], q["line"]))

    def _write_fresh(self, con: duckdb.DuckDBPyConnection) -> list[evidence.Partition]:
        if con.execute("SELECT count(*) FROM new_evidence").fetchone()[0] == 0:
            return []  # nothing mapped: no need to read the ids of earlier runs
        if evidence.parquet_parts(self.layout):
            con.execute(load("materialize/existing_ids"), {"glob": evidence.parquet_glob(self.layout)})
        con.execute(load("materialize/fresh"))
        pruned = self._drop_pruned(con)
        for order, mapped, kept in con.execute(load("materialize/counts")).fetchall():
            self.stats[order]["emitted"] = kept
            self.stats[order]["duplicates"] = mapped - kept - pruned.get(order, 0)
        con.execute("DROP TABLE new_evidence")
        output = load("materialize/output")
        days = _day_slices(con.execute(load("materialize/day_slices")).fetchall())
        with _Writes() as writes:
            for day, slices in days.items():
                writer = writes.open(evidence.DayWriter(self.layout, self.receipt_id, day))
                for first_order, last_order, first_line, last_line in slices:
                    params = {
                        "receipt_id": self.receipt_id,
                        "day": day,
                        "first_order": first_order,
                        "last_order": last_order,
                        "first_line": first_line,
                        "last_line": last_line,
                    }
                    writes.add(
                        writer,
                        con.execute(output, params).to_arrow_reader(evidence.ROW_GROUP_ROWS).read_all(),
                    )
                writes.close(writer)
        return writes.partitions

    def _drop_pruned(self, con: duckdb.DuckDBPyConnection) -> dict[int, int]:
        """Rows for days ``lakehouse prune`` removed (a late line, a stream read again): counted, not written."""
        if self.kept_from is None:
            return {}
        params = {"before": self.kept_from.isoformat()}
        pruned = dict(con.execute(load("materialize/pruned_counts"), params).fetchall())
        con.execute(load("materialize/drop_pruned"), params)
        for order, count in pruned.items():
            self.stats[order]["pruned"] = count
        return pruned

    def _commit(self, partitions: list[evidence.Partition]) -> dict[str, Any]:
        finished = datetime.now(UTC)
        receipt = self._receipt(finished, partitions)
        commit = journal.Journal(self.layout.root)
        quarantined = self._quarantine_lines(rfc3339(finished))
        if outbox.joined(self.layout):  # the lake is owed this commit: published after it, or by the next run
            tables = [
                "receipts",
                *(["evidence"] if partitions else []),
                *(["quarantine"] if quarantined else []),
            ]
            commit.write_json(
                outbox.marker(self.layout, self.receipt_id), outbox.entry("materialize", tables)
            )
        for part in partitions:
            commit.rename(part.parquet_tmp, part.parquet)
            commit.rename(part.jsonl_tmp, part.jsonl)
        commit.append(self.layout.quarantine, quarantined)
        files = {path: state.to_json() for path, state in self.new_state.items()}
        commit.write_json(self.layout.materialize_state, {"version": 1, "files": files})
        commit.append(self.layout.receipts, [dumps(receipt)])
        commit.commit(self.layout.commit_journal)
        return receipt

    def _quarantine_lines(self, at: str) -> list[str]:
        """What this run appends to quarantine.jsonl: every line it quarantined."""
        return [dumps(quarantine_entry(q, self.receipt_id, at)) for q in self.quarantine]

    def _receipt(self, finished: datetime, partitions: list[evidence.Partition]) -> dict[str, Any]:
        return {
            "schema": RECEIPT_SCHEMA,
            "receipt_id": self.receipt_id,
            "started_at": rfc3339(self.started),
            "finished_at": rfc3339(finished),
            "duration_ms": int((time.perf_counter() - self.clock) * 1000),
            "root": str(self.layout.root),
            "inputs": self._inputs_with_quarantine(),
            "transforms": self.stats,
            "partitions": [
                {
                    "day": p.day,
                    "parquet": self.layout.relative(p.parquet),
                    "jsonl": self.layout.relative(p.jsonl),
                    "rows": p.rows,
                }
                for p in partitions
            ],
            "totals": {
                "lines": sum(i["lines"] for i in self.inputs),
                "emitted": sum(p.rows for p in partitions),
                "duplicates": sum(t["duplicates"] for t in self.stats),
                "quarantined": len(self.quarantine),
                "partitions": len(partitions),
                **({"pruned": sum(t["pruned"] for t in self.stats)} if self.kept_from else {}),
            },
            "tool_version": __version__,
            "pid": os.getpid(),
        }


SLICE_ROWS = 50_000  # rows read from DuckDB at once when a day holds more (a span can be megabytes)


class _Writes:
    """The evidence files written on a thread of their own, one step behind DuckDB: while a slice is
    written (pyarrow and the file writes release the GIL) the next one is computed. At most two slices
    are held at once; steps run in order. On a failure every writer not closed is discarded."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lh-evidence")
        self._last: Future[Any] | None = None
        self._open: list[evidence.DayWriter] = []
        self.partitions: list[evidence.Partition] = []

    def open(self, writer: evidence.DayWriter) -> evidence.DayWriter:
        self._open.append(writer)
        return writer

    def add(self, writer: evidence.DayWriter, table: pa.Table) -> None:
        self._step(writer.add, table)

    def close(self, writer: evidence.DayWriter) -> None:
        def close_it() -> None:
            self.partitions.append(writer.close())
            self._open.remove(writer)

        self._step(close_it)

    def _step(self, fn: Callable[..., Any], *args: Any) -> None:
        self._wait()
        self._last = self._pool.submit(fn, *args)

    def _wait(self) -> None:
        if self._last is not None:
            last, self._last = self._last, None
            last.result()  # a failed step raises here, in the run's thread

    def __enter__(self) -> _Writes:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self._wait()
        finally:
            if self._last is not None:  # a failure elsewhere: the step in flight ends first
                with contextlib.suppress(BaseException):
                    self._last.result()
            self._pool.shutdown(wait=True)
            if exc_type is not None or self._open:
                for writer in self._open:
                    writer.discard()


def _day_slices(counts: list[tuple[str, int, int, int, int]]) -> dict[str, list[tuple[int, int, int, int]]]:
    """Per day, the (first order, last order, first line, last line) ranges to read it in: the whole day at
    once when it holds at most SLICE_ROWS rows, else each transform's line range cut into equal parts."""
    by_day: dict[str, list[tuple[int, int, int, int]]] = {}
    for day, order, rows, first, last in counts:
        by_day.setdefault(day, []).append((order, rows, first, last))
    slices: dict[str, list[tuple[int, int, int, int]]] = {}
    for day, parts in by_day.items():
        if sum(rows for _, rows, _, _ in parts) <= SLICE_ROWS:
            slices[day] = [(parts[0][0], parts[-1][0], min(p[2] for p in parts), max(p[3] for p in parts))]
            continue
        slices[day] = []
        for order, rows, first, last in parts:
            count = -(-rows // SLICE_ROWS)
            step = -(-(last - first + 1) // count)
            slices[day] += [
                (order, order, lo, min(lo + step - 1, last)) for lo in range(first, last + 1, step)
            ]
    return slices


def _most_frequent(reasons: list[str]) -> str | None:
    return Counter(reasons).most_common(1)[0][0] if reasons else None


def _apply_transform(
    con: duckdb.DuckDBPyConnection, t: Transform, order: int, lines_table: str, rel: str, produced: set[str]
) -> int:
    """Stage and map one transform's lines; return how many it quarantined."""
    staged = f"staged_{order}"
    try:
        con.execute(t.stage_sql(lines_table, staged))
        con.execute(t.quarantine_sql(staged, rel))
        con.execute(t.evidence_sql(staged, rel, order, produced))
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
        raise TransformError(f"transform {t.name} ({t.path}): {db.one_line(exc)}") from exc
    quarantined = con.execute(
        f"SELECT count(*) FROM {quote_ident(staged)} WHERE problem IS NOT NULL"
    ).fetchone()
    con.execute(f"DROP TABLE {quote_ident(staged)}")
    return int(quarantined[0])


def _output_columns(con: duckdb.DuckDBPyConnection, t: Transform) -> set[str]:
    """The columns a transform's SELECT returns, checked against what evidence can hold."""
    try:
        columns = [d[0] for d in con.execute(t.probe_sql()).description]
    except duckdb.Error as exc:
        raise TransformError(f"transform {t.name} ({t.path}): {db.one_line(exc)}") from exc
    if "line_no" not in columns:
        raise TransformError(f"transform {t.name} ({t.path}): its SELECT must return line_no")
    unknown = set(columns) - set(MAPPED_COLUMNS) - {"line_no"}
    if unknown:
        raise TransformError(
            f"transform {t.name} ({t.path}): unknown output columns {sorted(unknown)}; "
            f"allowed: line_no, {', '.join(MAPPED_COLUMNS)}"
        )
    return set(columns)


def quarantine_entry(q: dict[str, Any], receipt_id: str, at: str) -> dict[str, Any]:
    """A ``quarantine.v1`` line; its id is stable for the same bytes at the same place."""
    material = f"{q['path']}\x1f{q['offset']}\x1f{q['kind']}\x1f{q['raw']}"
    entry = {
        "schema": "quarantine.v1",
        "quarantine_id": "q:" + hashlib.sha256(material.encode("utf-8", "backslashreplace")).hexdigest()[:32],
        **{key: q[key] for key in ("stream", "path", "line", "offset", "kind", "reason", "raw")},
    }
    if "raw_base64" in q:
        entry["raw_base64"] = q["raw_base64"]
    entry.update({"receipt_id": receipt_id, "quarantined_at": at})
    return entry
