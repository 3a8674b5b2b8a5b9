"""``lakehouse materialize``: new stream lines in, evidence out (PRODUCT.md §3.3).

One run, under the root's lock:

1. finish a commit a crash interrupted, delete temporaries of a run that died before it;
2. for each transform, read the bytes of its stream appended since the last run (``streams``),
   block by block; stage each block in a private DuckDB and map it (``transforms``): evidence
   rows or quarantine reasons;
3. keep each evidence id once, and only if no earlier block or run wrote it;
4. append each block's rows to its days' Parquet part and JSONL, under temporary names, on a
   thread of their own (``writes``, ``evidence``);
5. commit through the journal: rename into place, append quarantine, save offsets,
   append the receipt last;
6. run the caller's ``after_commit`` (the pipeline re-points the catalog there, and reads meanwhile which
   playbooks the RAG corpus is owed).

Distilling those into the corpus comes after, in :mod:`lakehouse.pipeline`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import __version__
from lakehouse.core import db, failpoints, outbox, retention
from lakehouse.core.errors import StorageError
from lakehouse.core.files import dumps
from lakehouse.core.paths import Layout
from lakehouse.core.prefetch import prefetched
from lakehouse.core.sqlfiles import load
from lakehouse.ingest import blocks, evidence, journal, streams
from lakehouse.ingest.transforms import Transform, line_limit, load_transforms
from lakehouse.ingest.writes import Writes

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
    corpus_added: int = 0  # playbooks distilled into the RAG corpus (new or changed documents)
    corpus_ms: int = 0  # how long their distillation and indexing took (the reading overlaps the mirror)


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
        # kinds with ids in seen_ids, and kinds whose ids of earlier runs were loaded into it (each the
        # first time a block of it comes: a run of one stream reads a twelfth of the ids, not all of them)
        self.seen_kinds: set[str] = set()
        self.loaded_kinds: set[str] = set()
        self.earlier_runs: bool | None = None  # whether Parquet parts exist (None: not looked yet)
        self.writes: Writes | None = None
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
                blocks.output_columns(con, t) for t in self.transforms
            ]  # bad transforms fail before any read
            with Writes(self.layout, self.receipt_id) as self.writes:
                self._map_all(con, produced)
                self._collect_quarantine(con)
                partitions = self.writes.finish()
            failpoints.hit("after_temporaries")
        except duckdb.Error as exc:
            raise StorageError(f"materialize failed in DuckDB: {db.one_line(exc)}") from exc
        finally:
            con.close()
        return self._commit(partitions)

    def _map_all(self, con: duckdb.DuckDBPyConnection, produced: list[set[str]]) -> None:
        """Every block mapped and handed to the writer, in order.

        Transform by transform (a stream read by two is read twice), so that every day's files hold
        their rows in (transform, line) order as they are appended. The next block is read (file, UTF-8
        checks, Arrow) on a thread while DuckDB maps; two blocks are mapped at once, each on a cursor of
        its own, so one's single-threaded parts (the fetch into Arrow) overlap the other's SQL; their
        results are taken (de-duplicated, counted, written) in order. One more block waits its turn (on a
        cursor of its own): a mapping thread that finishes starts it while the run's thread takes the
        block before.
        """
        cursors = [blocks.cursor(con) for _ in range(blocks.MAPPED_AT_ONCE + blocks.QUEUED)]
        free = list(cursors)
        in_flight: deque[tuple[blocks.Block, duckdb.DuckDBPyConnection, Future[tuple[int, pa.Table]]]] = (
            deque()
        )
        try:
            with ThreadPoolExecutor(blocks.MAPPED_AT_ONCE, thread_name_prefix="lh-map") as pool:
                try:
                    for block in prefetched(self._blocks()):
                        if block.lines is not None:
                            if not free:
                                free.append(self._take(con, *in_flight.popleft()))
                            cursor = free.pop()
                            in_flight.append(
                                (block, cursor, pool.submit(self._map_block, cursor, block, produced))
                            )
                        if block.finish is not None:
                            block.finish()
                    while in_flight:
                        self._take(con, *in_flight.popleft())
                finally:
                    for _, _, future in in_flight:
                        future.cancel()
        finally:
            for cursor in cursors:  # after the pool: no mapping thread uses them any more
                cursor.close()

    def _scratch_connection(self) -> duckdb.DuckDBPyConnection:
        con = db.memory()
        con.execute(f"SET memory_limit = '{self.options.memory_limit}'")
        con.execute(f"SET temp_directory = '{(self.layout.state_dir / 'duckdb_tmp').as_posix()}'")
        con.execute("SET preserve_insertion_order = false")
        # one thread a query: blocks are mapped MAPPED_AT_ONCE at a time, which keeps the cores busy; DuckDB's
        # own workers on top of them cost 1.7 CPU-s in scheduling per 1M lines (whole runs: CPU 0.89x, wall 0.92x)
        con.execute("SET threads = 1")
        con.execute(load("otel/conventions"))  # the otel_spans transform reads attributes through them
        con.execute(load("materialize/tables"))
        return con

    def _blocks(self) -> Iterator[blocks.Block]:
        """Every transform's new lines, block by block, each stream's read ended by a block that
        accounts for it."""
        for order in range(len(self.transforms)):
            yield from self._stream_blocks(order)

    def _stream_blocks(self, order: int) -> Iterator[blocks.Block]:
        """The new lines of the stream of the transform ``order``, block by block (12 MiB of lines each:
        staging and mapping a block holds its lines twice over, raw and parsed, so a large backlog, a
        million spans, 1.3 GB, would not fit the memory limit whole). The stream's first transform
        accounts for the read (offsets, input, lines rejected before parsing)."""
        stream = self.transforms[order].stream
        path = self.layout.stream(stream)
        if not path.exists():
            return
        rel = self.layout.relative(path)
        first = self._first_of_stream(order)
        read_plan = streams.plan(path, self.state.get(rel))
        if read_plan.size == read_plan.start.offset:
            return
        result = streams.ReadResult()
        total = read_plan.size - read_plan.start.offset
        limit = line_limit(self.transforms, stream, self.options.max_line_bytes)
        for lines in streams.read_new_lines(read_plan, result, max_line_bytes=limit):
            for piece in blocks.pieces(lines):
                done = piece.column("byte_offset")[-1].as_py() - read_plan.start.offset
                yield blocks.Block(
                    order,
                    rel,
                    piece,
                    (stream, done, total) if first else None,
                )
        yield blocks.Block(
            order, rel, finish=lambda: self._account_read(order, rel, read_plan, result, first)
        )

    def _account_read(
        self, order: int, rel: str, read_plan: streams.ReadPlan, result: streams.ReadResult, first: bool
    ) -> None:
        stream = self.transforms[order].stream
        # lines rejected before parsing (too long, not UTF-8) count for every transform of the stream
        self.stats[order]["read"] += len(result.rejected)
        self.stats[order]["quarantined"] += len(result.rejected)
        if not first:
            return
        self.new_state[rel] = result.end
        self.quarantine.extend(rejected.to_quarantine(stream, rel) for rejected in result.rejected)
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

    def _map_block(
        self, cursor: duckdb.DuckDBPyConnection, block: blocks.Block, produced: list[set[str]]
    ) -> tuple[int, pa.Table]:
        """On a mapping thread: the block through its transform (blocks.map_block)."""
        t = self.transforms[block.order]
        return blocks.map_block(cursor, t, block, produced[block.order])

    def _take(
        self,
        con: duckdb.DuckDBPyConnection,
        block: blocks.Block,
        cursor: duckdb.DuckDBPyConnection,
        mapped: Future[tuple[int, pa.Table]],
    ) -> duckdb.DuckDBPyConnection:
        """A mapped block counted in and its fresh rows handed to the writer; return its cursor, free again."""
        assert block.lines is not None
        quarantined, rows = mapped.result()
        self.stats[block.order]["read"] += block.lines.num_rows
        self.stats[block.order]["quarantined"] += quarantined
        self._write_block(con, block.order, rows)
        if self.progress and block.progress:
            self.progress(*block.progress)
        return cursor

    def _first_of_stream(self, order: int) -> bool:
        """Whether the transform ``order`` is the first to read its stream (which accounts for the read)."""
        return all(t.stream != self.transforms[order].stream for t in self.transforms[:order])

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

    def _write_block(self, con: duckdb.DuckDBPyConnection, order: int, rows: pa.Table) -> None:
        """A block's fresh rows to the writer, its ids remembered, its counts in the stats."""
        if not rows.num_rows:
            return
        kind = self.transforms[order].kind
        stale = self._stale_lines(con, kind, rows)
        fresh = rows.filter(pc.invert(pc.is_in(rows.column("line_no"), stale))) if len(stale) else rows
        self.stats[order]["duplicates"] += rows.num_rows - fresh.num_rows
        fresh = self._without_pruned(fresh, order)
        assert self.writes is not None
        self.writes.add(fresh)
        self.stats[order]["emitted"] += fresh.num_rows

    def _stale_lines(self, con: duckdb.DuckDBPyConnection, kind: str, rows: pa.Table) -> pa.ChunkedArray:
        """The line numbers of a block's rows that are not fresh (see materialize/stale_lines); the block's
        ids are remembered. A block none of whose ids repeats within it or has the hash of an id of its kind seen
        before (materialize/seen_before) has none."""
        if kind not in self.loaded_kinds:
            self.loaded_kinds.add(kind)
            if self.earlier_runs is None:
                self.earlier_runs = bool(evidence.parquet_parts(self.layout))
            if self.earlier_runs:
                params = {"glob": evidence.parquet_glob(self.layout), "kind": kind}
                (earlier,) = con.execute(load("materialize/seen_ids"), params).fetchone()
                if earlier:
                    self.seen_kinds.add(kind)
        ids = rows.column("evidence_id")
        con.register("block_ids", rows.select(["evidence_id", "line_no"]))
        try:
            stale = pa.chunked_array([], pa.int64())
            may_repeat = pc.count_distinct(ids).as_py() < len(ids)
            if not may_repeat and kind in self.seen_kinds:
                (may_repeat,) = con.execute(load("materialize/seen_before"), {"kind": kind}).fetchone()
            if may_repeat:
                query = con.execute(load("materialize/stale_lines"), {"kind": kind})
                stale = query.to_arrow_table().column("line_no")
            con.execute(load("materialize/see_block"), {"kind": kind})
        finally:
            con.unregister("block_ids")
        self.seen_kinds.add(kind)
        return stale

    def _without_pruned(self, fresh: pa.Table, order: int) -> pa.Table:
        """Rows for days ``lakehouse prune`` removed (a late line, a stream read again): counted, not written."""
        if self.kept_from is None or not fresh.num_rows:
            return fresh
        pruned = pc.less(fresh.column("day"), self.kept_from.isoformat())
        count = pc.sum(pruned).as_py() or 0
        self.stats[order]["pruned"] += count
        return fresh.filter(pc.invert(pruned)) if count else fresh

    def _commit(self, partitions: list[evidence.Partition]) -> dict[str, Any]:
        finished = datetime.now(UTC)
        receipt = self._receipt(finished, partitions)
        commit = journal.Journal(self.layout.root)
        quarantined = self._quarantine_lines(rfc3339(finished))
        marked = None
        if outbox.joined(self.layout):  # the lake is owed this commit: published after it, or by the next run
            tables = [
                "receipts",
                *(["evidence"] if partitions else []),
                *(["quarantine"] if quarantined else []),
            ]
            marked = outbox.marker(self.layout, self.receipt_id)
            outbox.register(marked)
            commit.write_json(marked, outbox.entry("materialize", tables))
        for part in partitions:
            commit.rename(part.parquet_tmp, part.parquet)
            commit.rename(part.jsonl_tmp, part.jsonl)
        commit.append(self.layout.quarantine, quarantined)
        files = {path: state.to_json() for path, state in self.new_state.items()}
        commit.write_json(self.layout.materialize_state, {"version": 1, "files": files})
        commit.append(self.layout.receipts, [dumps(receipt)])
        commit.commit(self.layout.commit_journal)
        outbox.committed(marked)
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


def _most_frequent(reasons: list[str]) -> str | None:
    return Counter(reasons).most_common(1)[0][0] if reasons else None


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
