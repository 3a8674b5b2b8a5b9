"""Vector retrieval at 100k × 384: HNSW (vss, in its own file) against the exact scan, adds, rebuilds, SIGKILL.

Figures: exact-scan and HNSW query p50/p95 and recall@10 of HNSW against the exact top-10 (the
baseline, same run, same queries); side-store add throughput (batches of 64, one transaction each,
as ``corpus add`` stores them; embedding calls excluded); query p50 with a tail of added vectors
merged in; index rebuild time; and what a SIGKILL does: during a build of our index file, and,
for contrast, to a vss index persisted in place (the design we avoid) while rows are inserted.

    python bench/vectors.py --vectors 100000 --dim 384 --queries 200 --json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine

from lakehouse.core import db
from lakehouse.core.paths import open_root
from lakehouse.core.sqlfiles import load, render
from lakehouse.retrieval import vectors

MODEL = "bench-embed"
CLUSTERS = 1000


def fill_side_store(con: duckdb.DuckDBPyConnection, count: int, dim: int) -> None:
    """Clustered synthetic vectors (1,000 centroids plus noise), straight into rag_vectors."""
    con.execute("SELECT setseed(0.42)")
    con.execute(render(load("vectors/schema"), dim=str(dim)))
    con.execute(
        f"CREATE TEMP TABLE centroids AS SELECT c, list_transform(range({dim}), j -> random() - 0.5) AS v "
        f"FROM range({CLUSTERS}) AS t(c)"
    )
    con.execute(
        f"INSERT INTO rag_vectors SELECT 'rag:v' || i, '{MODEL}', {dim}, 'sha', nextval('rag_vector_seq'), "
        f"CAST(list_transform(v, x -> x + (random() - 0.5) * 0.4) AS FLOAT[{dim}]) "
        f"FROM range({count}) AS t(i) JOIN centroids ON c = i % {CLUSTERS} ORDER BY i"
    )


def query_vectors(con: duckdb.DuckDBPyConnection, count: int) -> list[list[float]]:
    rows = con.execute(
        f"SELECT list_transform(v, x -> x + (random() - 0.5) * 0.4) FROM centroids "
        f"WHERE c % {max(1, CLUSTERS // count)} = 0 LIMIT {count}"
    ).fetchall()
    return [list(r[0]) for r in rows]


def timed(func, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func(*args)
    return result, (time.perf_counter() - start) * 1000


def percentile(values: list[float], q: float) -> float:
    return (
        round(statistics.quantiles(values, n=100)[int(q) - 1], 2) if len(values) > 1 else round(values[0], 2)
    )


KILL_DURING_BUILD = textwrap.dedent(
    """
    import sys
    from lakehouse.core import db
    from lakehouse.retrieval import vectors
    from lakehouse.core.paths import open_root
    layout = open_root(sys.argv[1])
    with db.catalog(layout.catalog, read_only=True) as con:
        print("building", flush=True)
        vectors.build_index(layout, con, sys.argv[2])
    """
)

KILL_IN_PLACE = textwrap.dedent(
    """
    import sys
    import duckdb
    from lakehouse.core import db
    con = duckdb.connect(sys.argv[1])
    db.load_extension(con, "vss")
    con.execute("SET hnsw_enable_experimental_persistence = true")
    dim = int(sys.argv[2])
    i = 0
    while True:
        con.execute(
            f"INSERT INTO v SELECT 'new' || {i} || '-' || j, "
            f"CAST(list_transform(range({dim}), x -> random()) AS FLOAT[{dim}]) FROM range(50) AS t(j)"
        )
        i += 1
        if i == 5:
            print("inserting", flush=True)
    """
)


def kill_after(args: list[str], marker: str, delay_s: float) -> None:
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    if marker not in line:
        raise RuntimeError(f"child did not start: {line!r} {child.stderr.read() if child.stderr else ''}")
    time.sleep(delay_s)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    if child.stderr:
        child.stderr.close()


def sigkill_during_build(layout_root: Path, build_s: float) -> dict[str, object]:
    """Our design: kill a rebuild half-way; the live index file must be untouched and usable."""
    layout = open_root(layout_root)
    path = vectors.index_path(layout)
    before = path.read_bytes()
    kill_after([sys.executable, "-c", KILL_DURING_BUILD, str(layout_root), MODEL], "building", build_s / 2)
    leftovers = [p.name for p in path.parent.glob(f".{path.name}.*")]
    intact = path.read_bytes() == before
    index = vectors.IndexFile(path)
    index.close()
    return {"live_file_unchanged": intact, "live_file_opens": True, "temporary_files_left": len(leftovers)}


def sigkill_in_place(workdir: Path, dim: int, rows: int) -> dict[str, object]:
    """The design we avoid: a persisted vss index, rows inserted (autocommit) until SIGKILL; then reopen."""
    path = workdir / "in_place.duckdb"
    con = duckdb.connect(str(path))
    db.load_extension(con, "vss")
    con.execute("SET hnsw_enable_experimental_persistence = true")
    con.execute(f"CREATE TABLE v (id VARCHAR, vector FLOAT[{dim}])")
    con.execute(
        f"INSERT INTO v SELECT 'v' || i, CAST(list_transform(range({dim}), x -> random()) AS FLOAT[{dim}]) "
        f"FROM range({rows}) AS t(i)"
    )
    con.execute("CREATE INDEX hnsw ON v USING HNSW (vector) WITH (metric = 'cosine')")
    con.execute("CHECKPOINT")
    con.close()
    kill_after([sys.executable, "-c", KILL_IN_PLACE, str(path), str(dim)], "inserting", 1.0)
    wal = Path(f"{path}.wal")
    outcome: dict[str, object] = {"wal_bytes_after_kill": wal.stat().st_size if wal.exists() else 0}
    start = time.perf_counter()
    try:
        con = duckdb.connect(str(path))
        db.load_extension(con, "vss")
        outcome["rows_after_reopen"] = con.execute("SELECT count(*) FROM v").fetchone()[0]
        literal = "[" + ", ".join(["0.5"] * dim) + f"]::FLOAT[{dim}]"
        found = con.execute(
            f"SELECT id FROM v ORDER BY array_cosine_distance(vector, {literal}) LIMIT 10"
        ).fetchall()
        outcome["index_query_rows"] = len(found)
        con.close()
        outcome["reopen"] = "ok"
    except duckdb.Error as exc:
        outcome["reopen"] = f"failed: {db.one_line(exc)[:160]}"
    outcome["reopen_s"] = round(time.perf_counter() - start, 2)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--adds", type=int, default=2_000, help="vectors added after the build")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    k = 10

    with tempfile.TemporaryDirectory(prefix="lh-bench-vectors-") as tmp:
        root = Path(tmp)
        layout = open_root(root, create=True)
        con = db.open_catalog(layout.catalog)
        start = time.perf_counter()
        fill_side_store(con, args.vectors, args.dim)
        generate_s = time.perf_counter() - start
        query_list = query_vectors(con, args.queries)
        queries = [vectors.vector_literal(q, args.dim) for q in query_list]

        exact_ms, truth = [], []
        for literal in queries:
            rows, ms = timed(vectors.exact, con, MODEL, literal, k)
            exact_ms.append(ms)
            truth.append([r for r, _ in rows])

        start = time.perf_counter()
        vectors.build_index(layout, con, MODEL)
        build_s = time.perf_counter() - start
        index_mib = vectors.index_path(layout).stat().st_size / 2**20

        index = vectors.IndexFile(vectors.index_path(layout))
        hnsw_ms, hits = [], 0
        for literal, expected in zip(queries, truth, strict=True):
            rows, ms = timed(index.search, literal, k)
            hnsw_ms.append(ms)
            hits += len({r for r, _ in rows} & set(expected))
        index.close()

        # Adds: the side-store path of corpus add (64 vectors a transaction), then queries merging the tail.
        added = con.execute(
            f"SELECT 'rag:add' || i AS rag_id, '{MODEL}' AS model, 'sha' AS content_sha, "
            f"list_transform(range({args.dim}), x -> random() - 0.5)::FLOAT[] AS vector FROM range({args.adds}) AS t(i)"
        ).fetchall()
        rows = [{"rag_id": r, "model": m, "content_sha": s, "vector": list(v)} for r, m, s, v in added]
        start = time.perf_counter()
        for offset in range(0, len(rows), vectors.EMBED_BATCH):
            con.execute("BEGIN")
            vectors.store(con, rows[offset : offset + vectors.EMBED_BATCH])
            con.execute("COMMIT")
        add_s = time.perf_counter() - start
        # What a searcher does per query: side-store state, the index file's answer merged with the tail.
        searcher = vectors.VectorSearch(layout, vectors.Embedder(None, MODEL))  # type: ignore[arg-type]
        searcher.nearest(con, query_list[0], k)  # opens the index file built above (the adds are its tail)
        tail_ms = [timed(searcher.nearest, con, vector, k)[1] for vector in query_list]
        searcher.close()
        con.close()

        killed_build = sigkill_during_build(root, build_s)
        in_place = sigkill_in_place(root, args.dim, min(args.vectors, 20_000))

    result = {
        "benchmark": "vectors",
        "vectors": args.vectors,
        "dim": args.dim,
        "queries": len(queries),
        "k": k,
        "generate_s": round(generate_s, 2),
        "exact_p50_ms": round(statistics.median(exact_ms), 2),
        "exact_p95_ms": percentile(exact_ms, 95),
        "hnsw_p50_ms": round(statistics.median(hnsw_ms), 2),
        "hnsw_p95_ms": percentile(hnsw_ms, 95),
        "speedup_p50": round(statistics.median(exact_ms) / statistics.median(hnsw_ms), 1),
        "recall_at_10": round(hits / (k * len(queries)), 4),
        "build_s": round(build_s, 2),
        "index_mib": round(index_mib, 1),
        "adds": args.adds,
        "add_per_s": round(args.adds / add_s),
        "tail_query_p50_ms": round(statistics.median(tail_ms), 2),
        "sigkill_during_build": killed_build,
        "sigkill_in_place_index": in_place,
        "machine": machine(),
    }
    if not args.json:
        for key, value in result.items():
            print(f"{key:>24}: {value}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
