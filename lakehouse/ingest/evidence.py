"""The evidence store on disk: day-partitioned Parquet parts beside day-partitioned JSONL.

``data/evidence/parquet/day=D/part-<receipt>.parquet`` (one part per day and run, merged by
``compact``) and ``data/evidence/jsonl/day=D/evidence.jsonl`` (one file per day). Files are
first written under ``.<name>.tmp`` names that readers' ``*.parquet`` globs never match, and
made visible by the commit journal.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.core.errors import StorageError
from lakehouse.core.files import fsync_path
from lakehouse.core.paths import Layout

ROW_GROUP_ROWS = 256 * 1024

EVIDENCE_SCHEMA = pa.schema(
    [
        ("schema", pa.string()),
        ("evidence_id", pa.string()),
        ("kind", pa.string()),
        ("day", pa.string()),
        ("ts", pa.string()),
        ("source", pa.struct([("stream", pa.string()), ("path", pa.string()), ("line", pa.int64())])),
        ("run_id", pa.string()),
        ("task_id", pa.string()),
        ("model", pa.string()),
        ("text", pa.string()),
        ("passed", pa.bool_()),
        ("score", pa.float64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("duration_ms", pa.int64()),
        ("tags", pa.list_(pa.string())),
        ("metadata", pa.string()),
        ("receipt_id", pa.string()),
    ]
)


@dataclass
class Partition:
    """One day's output of a run, written under temporary names until commit."""

    day: str
    rows: int
    parquet_tmp: Path
    parquet: Path
    jsonl_tmp: Path
    jsonl: Path


def parquet_glob(layout: Layout) -> str:
    return (layout.parquet / "day=*" / "*.parquet").as_posix()


def parquet_parts(layout: Layout) -> list[Path]:
    return sorted(layout.parquet.glob("day=*/*.parquet"))


def write_parquet(table: pa.Table, path: Path) -> None:
    """Parquet with row groups big enough to scan fast (pyarrow's batch-sized groups are not)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pq.write_table(table.cast(EVIDENCE_SCHEMA), path, row_group_size=ROW_GROUP_ROWS, compression="zstd")
        fsync_path(path)  # on disk before the commit journal can name it
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc


def write_day(layout: Layout, receipt_id: str, day: str, table: pa.Table) -> Partition:
    """One day's new evidence (with a ``jsonl_line`` column) as a Parquet part and the day's JSONL, both temporary."""
    name = f"part-{receipt_id}.parquet"
    parquet = layout.parquet_day(day) / name
    parquet_tmp = parquet.with_name(f".{name}.tmp")
    write_parquet(table.drop_columns(["jsonl_line"]), parquet_tmp)
    jsonl = layout.jsonl_day(day)
    jsonl_tmp = jsonl.with_name(f".{jsonl.name}.{receipt_id}.tmp")
    _write_jsonl_day(jsonl, jsonl_tmp, table.column("jsonl_line"))
    return Partition(day, table.num_rows, parquet_tmp, parquet, jsonl_tmp, jsonl)


def _write_jsonl_day(existing: Path, tmp: Path, lines: pa.ChunkedArray) -> None:
    """The day's JSONL so far plus the new lines (each already ending in a newline)."""
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        if existing.exists():
            shutil.copyfile(existing, tmp)
        with open(tmp, "ab") as handle:
            for chunk in lines.chunks:
                handle.write(_string_bytes(chunk))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise StorageError(f"cannot write {tmp}: {exc.strerror}") from exc


def _string_bytes(chunk: pa.Array) -> memoryview:
    """The concatenated bytes of a string array without copying them."""
    _, offsets, data = chunk.buffers()
    width = "q" if pa.types.is_large_string(chunk.type) else "i"
    bounds = memoryview(offsets).cast(width)
    return memoryview(data)[bounds[chunk.offset] : bounds[chunk.offset + len(chunk)]]


def remove_stale_temporaries(layout: Layout) -> int:
    """Temporaries of a run that died before its commit point: never visible, safe to delete."""
    removed = 0
    for base in (layout.parquet, layout.evidence_jsonl):
        for tmp in base.glob("day=*/.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
