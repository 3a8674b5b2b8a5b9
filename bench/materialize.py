"""Materialize 1M source lines across the twelve streams, against a bare DuckDB COPY of the same files.

Targets (PRODUCT.md §9): materialize ≤ 2× the COPY, peak RSS ≤ 1 GB, no-op re-run < 0.5 s.

    python bench/materialize.py --lines 1000000 --json

The COPY and the materialize run in turn, ``--pairs`` times (each materialize into a fresh root whose
streams are hard links to the generated ones): the ratio quoted is the median of the pairs' ratios, so
that a machine whose speed drifts moves both sides of each pair alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import lakehouse_cmd, machine, query_p50_ms, run_child

from lakehouse import pipeline
from lakehouse.catalog import analytics
from lakehouse.core import db
from lakehouse.core.paths import Layout, open_root
from lakehouse.demo import synth

BASELINE_SQL = """
COPY (
    SELECT *, strftime(coalesce(TRY_CAST(ts AS TIMESTAMPTZ), TRY_CAST(recorded_at AS TIMESTAMPTZ)), '%Y-%m-%d') AS day
    FROM read_json($files, format = 'newline_delimited', union_by_name = true)
) TO '{out}' (FORMAT parquet, PARTITION_BY (day))
"""


def baseline_copy(files: list[str], out: Path) -> float:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        start = time.perf_counter()
        con.execute(BASELINE_SQL.format(out=out.as_posix()), {"files": files})
        return time.perf_counter() - start
    finally:
        con.close()


def fresh_root(root: Path, layout: Layout, streams: list[str]) -> Path:
    """A root of its own whose streams are hard links to ``layout``'s (materialize only reads a stream;
    the logs it appends to, receipts and the corpus among them, are the root's own)."""
    target = open_root(root.mkdir(parents=True) or root, create=True)
    for stream in streams:
        os.link(layout.stream(stream), target.stream(stream))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument(
        "--mix",
        choices=["weighted", "equal"],
        default="weighted",
        help="lines per stream: weighted like real logs (default), or the twelve streams equally "
        "(every playbook line then a playbook of its own: the corpus gets a document per line)",
    )
    parser.add_argument("--pairs", type=int, default=3, help="COPY and materialize runs, in turn (default 3)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="lh-bench-"))
    root = work / "root"
    if root.exists():
        shutil.rmtree(root)
    layout = open_root(root.mkdir(parents=True) or root, create=True)
    start = time.perf_counter()
    weights = synth.EQUAL_WEIGHTS if args.mix == "equal" else synth.WEIGHTS
    counts = synth.write_streams(
        layout.kb,
        args.lines,
        seed=1,
        end_day="2026-05-02",
        days=args.days,
        weights=weights,
        distinct_playbooks=args.mix == "equal",  # a large knowledge base: every playbook a document
    )
    generate_s = time.perf_counter() - start
    files = sorted(str(layout.stream(s)) for s in counts)
    input_bytes = sum(Path(f).stat().st_size for f in files)

    pairs = []
    for pair in range(max(args.pairs, 1)):
        copy_out = work / "copy_out"
        shutil.rmtree(copy_out, ignore_errors=True)
        copy_s = baseline_copy(files, copy_out)
        target = root if pair == 0 else fresh_root(work / f"root{pair}", layout, list(counts))
        run = run_child(lakehouse_cmd("materialize", "--root", str(target), "--json"))
        if run["returncode"] != 0:
            raise SystemExit(f"materialize failed: {run['stderr']}")
        pairs.append({"copy_s": copy_s, "materialize_s": run["seconds"], "peak_rss_mib": run["peak_rss_mib"]})
        if pair == 0:
            receipt = json.loads(run["stdout"])
        else:
            shutil.rmtree(target)
    ratios = [p["materialize_s"] / p["copy_s"] for p in pairs]
    noop_cli = run_child(lakehouse_cmd("materialize", "--root", str(root), "--json"))
    start = time.perf_counter()
    noop_receipt = pipeline.materialize(layout).receipt
    noop_in_process_s = time.perf_counter() - start
    with db.catalog(layout.catalog, read_only=True) as con:
        evidence_query_ms = query_p50_ms(con, analytics.named_query_sql("evidence_by_kind_and_day"), 5)

    result = {
        "benchmark": "materialize",
        "mix": args.mix,
        "lines": sum(counts.values()),
        "input_mib": round(input_bytes / 2**20, 1),
        "streams": len(counts),
        "days": args.days,
        "generate_s": round(generate_s, 2),
        "pairs": len(pairs),
        "duckdb_copy_s": round(statistics.median(p["copy_s"] for p in pairs), 3),
        "materialize_s": round(statistics.median(p["materialize_s"] for p in pairs), 3),
        "materialize_receipt_ms": receipt["duration_ms"],
        "ratio_vs_copy": round(statistics.median(ratios), 2),
        "ratio_range": [round(min(ratios), 2), round(max(ratios), 2)],
        "peak_rss_mib": round(max(p["peak_rss_mib"] for p in pairs), 1),
        "emitted": receipt["totals"]["emitted"],
        "partitions": receipt["totals"]["partitions"],
        "noop_in_process_s": round(noop_in_process_s, 3),
        "noop_cli_s": round(noop_cli["seconds"], 3),
        "noop_emitted": noop_receipt["totals"]["emitted"],
        "evidence_by_kind_and_day_p50_ms": evidence_query_ms,
        "targets": {"ratio_vs_copy": 2.0, "peak_rss_mib": 1024, "noop_in_process_s": 0.5},
        "machine": machine(),
    }
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
