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
6. mirror into the catalog (``catalog``); a locked catalog only delays the mirror.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from lakehouse import __version__, catalog, db, evidence, failpoints, journal, streams
from lakehouse.errors import CatalogError, StorageError, TransformError
from lakehouse.files import dumps
from lakehouse.paths import Layout
from lakehouse.sqlfiles import load
from lakehouse.transforms import MAPPED_COLUMNS, Transform, load_transforms

RECEIPT_SCHEMA = "materialize_receipt.v1"
Progress = Callable[[str, int, int], None]  # (stream, bytes done, bytes total)


@dataclass
class Options:
    transforms_dir: Path | None = None
    max_line_bytes: int = streams.DEFAULT_MAX_LINE_BYTES
    wait: bool = True
    memory_limit: str = "512MB"  # DuckDB buffer pool; it spills to data/_state/duckdb_tmp beyond


@dataclass
class Outcome:
    """What a run did: its receipt, and whether the catalog mirror is behind."""

    receipt: dict[str, Any]
    mirror_warning: str | None = None
    recovered: bool = False
    stale_removed: int = 0
    notes: list[str] = field(default_factory=list)


def new_receipt_id(now: datetime) -> str:
    return f"mr-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{secrets.token_hex(3)}"


def now_rfc3339(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
) -> Outcome:
    """Materialize everything appended since the last run. Raises ``LakehouseError`` on infrastructure failure."""
    options = options or Options()
    transforms = load_transforms(options.transforms_dir)
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    from lakehouse.files import exclusive_lock

    with exclusive_lock(layout.materialize_lock, wait=options.wait, on_wait=on_wait):
        recovered = journal.recover(layout.root, layout.commit_journal)
        stale = evidence.remove_stale_temporaries(layout)
        outcome = _run_locked(layout, transforms, options, progress)
        outcome.recovered, outcome.stale_removed = recovered, stale
        outcome.mirror_warning = catalog.mirror_after_write(layout, "evidence")
    return outcome


def _run_locked(
    layout: Layout, transforms: list[Transform], options: Options, progress: Progress | None
) -> Outcome:
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    receipt_id = new_receipt_id(started)
    state = load_state(layout)
    new_state = dict(state)
    con = _scratch_connection(layout, options)
    try:
        inputs, transform_stats, quarantine = _stage_all(
            layout, con, transforms, state, new_state, options, progress
        )
        partitions = _write_fresh(layout, con, transforms, transform_stats, receipt_id)
        failpoints.hit("after_temporaries")
    except duckdb.Error as exc:
        raise StorageError(f"materialize failed in DuckDB: {db.one_line(exc)}") from exc
    finally:
        con.close()
    finished = datetime.now(UTC)
    receipt = _receipt(
        layout, receipt_id, started, finished, t0, inputs, transform_stats, partitions, len(quarantine)
    )
    commit = journal.Journal(layout.root)
    for part in partitions:
        commit.rename(part.parquet_tmp, part.parquet)
        commit.rename(part.jsonl_tmp, part.jsonl)
    quarantined_at = now_rfc3339(finished)
    commit.append(
        layout.quarantine, [dumps(_quarantine_entry(q, receipt_id, quarantined_at)) for q in quarantine]
    )
    commit.write_json(
        layout.materialize_state, {"version": 1, "files": {p: s.to_json() for p, s in new_state.items()}}
    )
    commit.append(layout.receipts, [dumps(receipt)])
    commit.commit(layout.commit_journal)
    return Outcome(receipt=receipt)


def _scratch_connection(layout: Layout, options: Options) -> duckdb.DuckDBPyConnection:
    con = db.memory()
    spill = layout.state_dir / "duckdb_tmp"
    con.execute(f"SET memory_limit = '{options.memory_limit}'")
    con.execute(f"SET temp_directory = '{spill.as_posix()}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(load("materialize/tables"))
    return con


def _stage_all(layout, con, transforms, state, new_state, options, progress):
    by_stream: dict[str, list[tuple[int, Transform]]] = {}
    for order, t in enumerate(transforms):
        by_stream.setdefault(t.stream, []).append((order, t))
    inputs: list[dict[str, Any]] = []
    stats: dict[int, dict[str, Any]] = {
        order: {
            "name": t.name,
            "stream": t.stream,
            "kind": t.kind,
            "read": 0,
            "emitted": 0,
            "duplicates": 0,
            "quarantined": 0,
        }
        for order, t in enumerate(transforms)
    }
    quarantine: list[dict[str, Any]] = []
    for stream, members in by_stream.items():
        path = layout.stream(stream)
        if not path.exists():
            continue
        rel = layout.relative(path)
        read_plan = streams.plan(path, state.get(rel))
        if read_plan.size == read_plan.start.offset:
            continue
        result = streams.ReadResult()
        lines_table = f"lines_{stream}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {db_ident(lines_table)} "
            "(line_no BIGINT, byte_offset BIGINT, raw VARCHAR)"
        )
        for block in streams.read_new_lines(read_plan, result, max_line_bytes=options.max_line_bytes):
            con.register("block_view", block)
            con.execute(f"INSERT INTO {db_ident(lines_table)} SELECT * FROM block_view")
            con.unregister("block_view")
            if progress:
                progress(
                    stream,
                    int(block.column("byte_offset")[-1].as_py()) - read_plan.start.offset,
                    read_plan.size - read_plan.start.offset,
                )
        new_state[rel] = result.end
        for rejected in result.rejected:
            quarantine.append(rejected.to_quarantine(stream, rel))
        for order, t in members:
            _apply_transform(con, t, order, lines_table, rel, stats[order])
            stats[order]["read"] = result.lines - result.blank
            stats[order]["quarantined"] += len(result.rejected)
        con.execute(f"DROP TABLE {db_ident(lines_table)}")
        inputs.append(
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
    rows = con.execute("SELECT * FROM new_quarantine ORDER BY path, line").fetchall()
    names = [d[0] for d in con.description]
    quarantine.extend(dict(zip(names, row, strict=True)) for row in rows)
    quarantine.sort(key=lambda q: (q["path"], q["line"]))
    return inputs, stats, quarantine


def _apply_transform(con, t: Transform, order: int, lines_table: str, rel: str, stat: dict[str, Any]) -> None:
    staged = f"staged_{order}"
    try:
        produced = _output_columns(con, t)
        con.execute(t.stage_sql(lines_table, staged))
        con.execute(t.quarantine_sql(staged, rel))
        con.execute(t.evidence_sql(staged, rel, order, produced))
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
        raise TransformError(f"transform {t.name} ({t.path}): {db.one_line(exc)}") from exc
    stat["quarantined"] += con.execute(
        f"SELECT count(*) FROM {db_ident(staged)} WHERE problem IS NOT NULL"
    ).fetchone()[0]
    con.execute(f"DROP TABLE {db_ident(staged)}")


def _output_columns(con, t: Transform) -> set[str]:
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


def _write_fresh(layout, con, transforms, stats, receipt_id) -> list[evidence.Partition]:
    if con.execute("SELECT count(*) FROM new_evidence").fetchone()[0] == 0:
        return []  # nothing mapped: no need to read the ids of earlier runs
    if evidence.parquet_parts(layout):
        con.execute(load("materialize/existing_ids"), {"glob": evidence.parquet_glob(layout)})
    con.execute(load("materialize/fresh"))
    for order, mapped, kept in con.execute(load("materialize/counts")).fetchall():
        stats[order]["emitted"] = kept
        stats[order]["duplicates"] = mapped - kept
    reader = con.execute(load("materialize/output"), {"receipt_id": receipt_id}).to_arrow_reader(
        evidence.ROW_GROUP_ROWS
    )
    return evidence.PartitionWriter(layout, receipt_id).write(reader)


def db_ident(name: str) -> str:
    from lakehouse.sqlfiles import quote_ident

    return quote_ident(name)


def _quarantine_entry(q: dict[str, Any], receipt_id: str, at: str) -> dict[str, Any]:
    material = f"{q['path']}\x1f{q['offset']}\x1f{q['kind']}\x1f{q['raw']}"
    entry = {
        "schema": "quarantine.v1",
        "quarantine_id": "q:" + hashlib.sha256(material.encode("utf-8", "backslashreplace")).hexdigest()[:32],
        "stream": q["stream"],
        "path": q["path"],
        "line": q["line"],
        "offset": q["offset"],
        "kind": q["kind"],
        "reason": q["reason"],
        "raw": q["raw"],
    }
    if "raw_base64" in q:
        entry["raw_base64"] = q["raw_base64"]
    entry.update({"receipt_id": receipt_id, "quarantined_at": at})
    return entry


def _receipt(
    layout, receipt_id, started, finished, t0, inputs, stats, partitions, quarantined
) -> dict[str, Any]:
    transforms = [stats[k] for k in sorted(stats)]
    return {
        "schema": RECEIPT_SCHEMA,
        "receipt_id": receipt_id,
        "started_at": now_rfc3339(started),
        "finished_at": now_rfc3339(finished),
        "duration_ms": int((time.perf_counter() - t0) * 1000),
        "root": str(layout.root),
        "inputs": inputs,
        "transforms": transforms,
        "partitions": [
            {
                "day": p.day,
                "parquet": layout.relative(p.parquet),
                "jsonl": layout.relative(p.jsonl),
                "rows": p.rows,
            }
            for p in partitions
        ],
        "totals": {
            "lines": sum(i["lines"] for i in inputs),
            "emitted": sum(p.rows for p in partitions),
            "duplicates": sum(t["duplicates"] for t in transforms),
            "quarantined": quarantined,
            "partitions": len(partitions),
        },
        "tool_version": __version__,
        "pid": os.getpid(),
    }


__all__ = ["CatalogError", "Options", "Outcome", "run"]
