"""The OTLP benchmark's materialize part: 1M flattened spans materialized against a bare COPY (bench/otlp.py)."""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import lakehouse_cmd, run_child
from otlp_spans import BATCH_SPANS, numbered, template

# --- materialize of 1M spans ---------------------------------------------------------------------

BASELINE_SQL = """
COPY (
    SELECT *, strftime(TRY_CAST(start_time AS TIMESTAMPTZ), '%Y-%m-%d') AS day
    FROM read_json($files, format = 'newline_delimited', union_by_name = true)
) TO '{out}' (FORMAT parquet, PARTITION_BY (day))
"""


def source_version() -> str:
    """A hash of the code that writes a stream line, so a cached file is rebuilt when it changes."""
    from lakehouse.otlp import decode, flatten, store

    text = "".join(inspect.getsource(m) for m in (decode, flatten, store)) + inspect.getsource(template)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def spans_file(spans: int, templates: list[bytes]) -> tuple[Path, float | None]:
    """A cached stream of at least ``spans`` flattened spans (and the seconds it took, when made now)."""
    from lakehouse.otlp import decode, store

    cache = Path(tempfile.gettempdir()) / "lh-bench-otlp-cache"
    version = source_version()
    for cached in cache.glob(f"otel_spans-*-{version}.jsonl"):
        if int(cached.name.split("-")[1]) >= spans:
            return cached, None  # its first lines are what this run takes
    path = cache / f"otel_spans-{spans}-{version}.jsonl"
    cache.mkdir(exist_ok=True)
    for old in cache.glob("otel_spans-*.jsonl"):
        old.unlink()  # one cached file at a time
    start = time.perf_counter()
    partial = path.with_suffix(".partial")
    with partial.open("wb") as f:
        for n in range((spans + BATCH_SPANS - 1) // BATCH_SPANS):
            body = numbered(templates[n % len(templates)], 0x7F000000 | (n + 1))
            records = decode.flattened("traces", decode.parse("traces", body, "protobuf")).records
            f.write(b"".join(store.line_of(r) for r in records[: spans - n * BATCH_SPANS]))
    partial.rename(path)
    return path, time.perf_counter() - start


def per_batch_costs(templates: list[bytes], batches: int = 40) -> dict[str, float]:
    """Milliseconds per 512-span request of each step of the receiver's work, in one thread."""
    from lakehouse.otlp import decode, store

    steps = {"protobuf_parse": 0.0, "flatten": 0.0, "json_lines": 0.0, "append_fsync": 0.0}
    with tempfile.TemporaryDirectory(prefix="lh-bench-otlp-") as tmp:
        stream = Path(tmp) / "otel_spans.jsonl"
        for n in range(batches):
            body = numbered(templates[n % len(templates)], n + 1)
            t0 = time.perf_counter()
            message = decode.parse("traces", body, "protobuf")
            t1 = time.perf_counter()
            records = decode.flattened("traces", message).records
            t2 = time.perf_counter()
            payload = b"".join(store.line_of(r) for r in records)
            t3 = time.perf_counter()
            store.append(stream, payload)
            t4 = time.perf_counter()
            for step, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                steps[step] += seconds
    costs = {step: round(seconds / batches * 1000, 2) for step, seconds in steps.items()}
    costs["total"] = round(sum(costs.values()), 2)
    costs["one_core_spans_per_s"] = round(BATCH_SPANS / costs["total"] * 1000)
    return costs


COPY_CHILD = """
import json, sys, time
import duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")
start = time.perf_counter()
con.execute(sys.argv[1], {"files": json.loads(sys.argv[2])})
print(time.perf_counter() - start)
"""


def baseline_copy(files: list[str], out: Path) -> dict[str, Any]:
    """The bare COPY, in a child process of its own (so that this process stays small, and the COPY's
    peak RSS is its own)."""
    run = run_child(
        [sys.executable, "-c", COPY_CHILD, BASELINE_SQL.format(out=out.as_posix()), json.dumps(files)]
    )
    if run["returncode"] != 0:
        raise SystemExit(f"the COPY baseline failed: {run['stderr']}")
    return {"seconds": float(run["stdout"].strip().splitlines()[-1]), "peak_rss_mib": run["peak_rss_mib"]}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def materialize_run(source: Path, spans: int, keep: bool) -> dict[str, Any]:
    """`lakehouse materialize` of the first ``spans`` lines of ``source`` against a bare COPY of them."""
    work = Path(tempfile.mkdtemp(prefix="lh-bench-otlp-"))
    try:
        root = work / "root"
        (root / "data" / "_kb").mkdir(parents=True)
        stream = root / "data" / "_kb" / "otel_spans.jsonl"
        copy_lines(source, stream, spans)
        copy = baseline_copy([str(stream)], work / "copy_out")
        copy_s = copy["seconds"]
        parent_rss = rss_mib()
        run = run_child(lakehouse_cmd("materialize", "--root", str(root), "--json"))
        result: dict[str, Any] = {
            "spans": spans,
            "input_mib": round(stream.stat().st_size / 2**20, 1),
            "duckdb_copy_s": round(copy_s, 2),
            "duckdb_copy_peak_rss_mib": round(copy["peak_rss_mib"], 1),
            "materialize_s": round(run["seconds"], 2),
            "peak_rss_mib": round(run["peak_rss_mib"], 1),
            "bench_process_rss_mib": round(parent_rss, 1),  # (not in the child's figure: common.run_child)
        }
        if run["returncode"] != 0:
            result["error"] = (run["stderr"].strip().splitlines() or ["(no message)"])[-1][:300]
            return result
        receipt = json.loads(run["stdout"])
        result.update(
            ratio_vs_copy=round(run["seconds"] / copy_s, 2),
            spans_per_s=round(spans / run["seconds"]),
            emitted=receipt["totals"]["emitted"],
            quarantined=receipt["totals"]["quarantined"],
            partitions=receipt["totals"]["partitions"],
        )
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def copy_lines(source: Path, target: Path, lines: int) -> None:
    """The first ``lines`` lines of ``source`` into ``target`` (the whole file when it has no more)."""
    with source.open("rb") as f, target.open("wb") as out:
        for n, line in enumerate(f):
            if n >= lines:
                break
            out.write(line)


# --- main ----------------------------------------------------------------------------------------
