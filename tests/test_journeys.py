"""Journeys: the installed ``lakehouse`` command driven as a person would, on a demo root.

Loops over what exists (every table and view the catalog lists, every output format, every named
query), so whatever a later change adds is covered without touching this file. Each answer is
checked against DuckDB's own answer to the same query, read from the catalog directly.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from support import ANALYST_TABLES, lakehouse_command

from lakehouse.catalog.analytics import named_query_sql
from lakehouse.cli.output import FORMATS
from lakehouse.core.sqlfiles import quote_ident

pytestmark = pytest.mark.slow
csv.field_size_limit(1 << 30)  # the demo quarantines an over-long line on purpose; its raw text is a field

CATALOG_OBJECTS = """
SELECT table_name FROM duckdb_tables() WHERE NOT internal AND database_name = current_database()
UNION SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()
ORDER BY 1
"""


def lakehouse(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*lakehouse_command(), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("journey") / "lh"
    proc = lakehouse("demo", "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    return root


def duckdb_answer(root: Path, sql: str) -> tuple[list[str], int]:
    """Column names and row count of DuckDB's own answer, from the catalog opened read-only."""
    con = duckdb.connect(str(root / "data" / "lakehouse.duckdb"), read_only=True)
    try:
        columns = [d[0] for d in con.execute(sql).description]
        (rows,) = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
    finally:
        con.close()
    return columns, rows


def catalog_objects(root: Path) -> list[str]:
    con = duckdb.connect(str(root / "data" / "lakehouse.duckdb"), read_only=True)
    try:
        return [name for (name,) in con.execute(CATALOG_OBJECTS).fetchall()]
    finally:
        con.close()


def parse(fmt: str, stdout: str, path: Path) -> tuple[list[str], list[Any]]:
    """Column names and rows of one output format, read back as a consumer would."""
    if fmt == "csv":
        header, *rows = list(csv.reader(io.StringIO(stdout)))
        return header, rows
    if fmt == "json":
        records = json.loads(stdout)
        return (list(records[0]) if records else []), records
    if fmt == "jsonl":
        records = [json.loads(line) for line in stdout.split("\n")[:-1]]  # JSONL lines end at \n only
        return (list(records[0]) if records else []), records
    if fmt == "parquet":
        return pq.read_schema(path).names, [None] * pq.read_metadata(path).num_rows
    lines = stdout.splitlines()
    footer = re.fullmatch(r"\(([\d,]+) rows?\)", lines[-1])
    assert footer, lines[-1]
    return lines[0].split(), [None] * int(footer.group(1).replace(",", ""))


def run_format(
    root: Path, sql: str, fmt: str, out_dir: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    target = out_dir / f"{abs(hash((sql, fmt)))}.parquet"
    extra = ["--output", str(target)] if fmt == "parquet" else []
    proc = lakehouse("sql", sql, "--root", str(root), "--format", fmt, "--limit", "0", *extra)
    return proc, target


def test_select_star_from_every_catalog_object_in_every_format(demo_root: Path, tmp_path: Path) -> None:
    objects = catalog_objects(demo_root)
    assert set(ANALYST_TABLES) <= set(objects)
    cases = [(name, fmt) for name in objects for fmt in FORMATS]

    def check(case: tuple[str, str]) -> str | None:
        name, fmt = case
        sql = f"SELECT * FROM {quote_ident(name)}"
        proc, target = run_format(demo_root, sql, fmt, tmp_path)
        if proc.returncode != 0:
            return f"{sql} --format {fmt}: exit {proc.returncode}: {proc.stderr.strip()}"
        columns, rows = parse(fmt, proc.stdout, target)
        expected_columns, expected_rows = duckdb_answer(demo_root, sql)
        if len(rows) != expected_rows:
            return f"{sql} --format {fmt}: {len(rows)} rows, DuckDB says {expected_rows}"
        if fmt == "table":  # a header line splits on spaces; names in order is what can be checked
            header = " ".join(columns)
            if header.split() != " ".join(expected_columns).split():
                return f"{sql} --format table: header {header!r}"
        elif (rows or fmt in ("csv", "parquet")) and columns != expected_columns:
            return f"{sql} --format {fmt}: columns {columns} != {expected_columns}"
        return None

    with ThreadPoolExecutor(max_workers=3) as pool:
        problems = [p for p in pool.map(check, cases) if p]
    assert not problems, "\n".join(problems)


EVERY_TYPE = """
SELECT
  TIMESTAMP '2024-01-02 03:04:05.123456' AS ts,
  TIMESTAMPTZ '2024-01-02 03:04:05.5+00' AS tstz,
  TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS tsns,
  DATE '2024-01-02' AS d,
  TIME '03:04:05' AS t,
  TIMETZ '03:04:05+02' AS ttz,
  INTERVAL '1 year 2 months 3 days 04:05:06.5' AS iv,
  123456789012345678.123456789::DECIMAL(38,9) AS dec,
  170141183460469231731687303715884105727::HUGEINT AS huge,
  '00112233-4455-6677-8899-aabbccddeeff'::UUID AS u,
  '\\xAA\\xFFab'::BLOB AS b,
  '{"a": [1, 2]}'::JSON AS j,
  [1, 2, NULL] AS l,
  {'x': 1, 'y': [TIMESTAMPTZ '2024-01-02 03:04:05+00']} AS s,
  MAP {'k1': 1.5, 'k2': 2} AS m,
  'b'::ENUM('a', 'b') AS e,
  NULL AS n,
  'nan'::DOUBLE AS nan,
  'inf'::DOUBLE AS pinf,
  '-inf'::DOUBLE AS ninf,
  0.1::DOUBLE AS dbl,
  0.1::FLOAT AS flt,
  true AS bool,
  'comma, "quote"' AS str
"""

# What each value is in json/jsonl (README, "Output formats").
EXPECTED_JSON: dict[str, Any] = {
    "ts": "2024-01-02T03:04:05.123456",
    "tstz": "2024-01-02T03:04:05.5Z",
    "tsns": "2024-01-02T03:04:05.123456789",
    "d": "2024-01-02",
    "t": "03:04:05",
    "ttz": "03:04:05+02",
    "iv": "1 year 2 months 3 days 04:05:06.5",
    "dec": "123456789012345678.123456789",  # checked on the raw text: exact digits
    "huge": 170141183460469231731687303715884105727,
    "u": "00112233-4455-6677-8899-aabbccddeeff",
    "b": "qv9hYg==",
    "j": {"a": [1, 2]},
    "l": [1, 2, None],
    "s": {"x": 1, "y": ["2024-01-02T03:04:05Z"]},
    "m": {"k1": 1.5, "k2": 2.0},
    "e": "b",
    "n": None,
    "nan": "NaN",
    "pinf": "Infinity",
    "ninf": "-Infinity",
    "dbl": 0.1,
    "flt": 0.1,
    "bool": True,
    "str": 'comma, "quote"',
}

# What each value is in csv (nested values and JSON as JSON text; NULL an empty field).
EXPECTED_CSV = {
    **{k: v for k, v in EXPECTED_JSON.items() if isinstance(v, str)},
    "huge": "170141183460469231731687303715884105727",
    "j": '{"a": [1, 2]}',
    "l": "[1,2,null]",
    "s": '{"x":1,"y":["2024-01-02T03:04:05Z"]}',
    "m": '{"k1":1.5,"k2":2.0}',
    "n": "",
    "dbl": "0.1",
    "flt": "0.1",
    "bool": "true",
}


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_every_type_in_json(demo_root: Path, fmt: str) -> None:
    proc = lakehouse("sql", EVERY_TYPE, "--root", str(demo_root), "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)[0] if fmt == "json" else json.loads(proc.stdout)
    assert list(record) == list(EXPECTED_JSON)
    assert '"dec":123456789012345678.123456789' in proc.stdout.replace(" ", "")
    for column, expected in EXPECTED_JSON.items():
        if column != "dec":
            assert record[column] == expected, column
    assert math.isclose(record["dec"], 123456789012345678.123456789)


def test_every_type_in_csv(demo_root: Path) -> None:
    proc = lakehouse("sql", EVERY_TYPE, "--root", str(demo_root), "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    header, row = list(csv.reader(io.StringIO(proc.stdout)))
    assert dict(zip(header, row, strict=True)) == EXPECTED_CSV


def test_every_type_in_a_table(demo_root: Path) -> None:
    proc = lakehouse("sql", EVERY_TYPE, "--root", str(demo_root), "--format", "table")
    assert proc.returncode == 0, proc.stderr
    header, _rule, row, footer = proc.stdout.splitlines()
    assert header.split() == list(EXPECTED_JSON) and footer == "(1 row)"
    for cell in ("2024-01-02T03:04:05.5Z", "qv9hYg==", "NaN", "-Infinity", "[1,2,null]", "0.1"):
        assert cell in row


def as_text(con: duckdb.DuckDBPyConnection, source: str, params: list[str] | None = None) -> dict[str, str]:
    """Each EVERY_TYPE column of ``source``'s one row, as DuckDB's own text."""
    columns = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR)" for c in EXPECTED_JSON)
    return dict(
        zip(EXPECTED_JSON, con.execute(f"SELECT {columns} FROM {source}", params).fetchone(), strict=True)
    )


def test_every_type_in_parquet(demo_root: Path, tmp_path: Path) -> None:
    target = tmp_path / "types.parquet"
    proc = lakehouse("sql", EVERY_TYPE, "--root", str(demo_root), "--output", str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == f"wrote 1 row to {target}"
    con = duckdb.connect()
    read_back, original = as_text(con, "read_parquet(?)", [str(target)]), as_text(con, f"({EVERY_TYPE})")
    assert read_back == original  # every value survives, typed where Parquet has the type
    types = dict(
        con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", [str(target)]
        ).fetchall()
    )
    assert types["tstz"] == "TIMESTAMP WITH TIME ZONE" and types["dec"] == "DECIMAL(38,9)"
    assert types["s"].startswith("STRUCT") and types["m"].startswith("MAP")


def test_every_named_query_in_every_format(demo_root: Path, tmp_path: Path) -> None:
    listing = lakehouse("query", "--list")
    names = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    assert len(names) >= 6
    cases = [(name, fmt) for name in names for fmt in FORMATS]

    def check(case: tuple[str, str]) -> str | None:
        name, fmt = case
        target = tmp_path / f"{name}.parquet"
        extra = ["--output", str(target)] if fmt == "parquet" else []
        proc = lakehouse("query", name, "--root", str(demo_root), "--format", fmt, "--limit", "0", *extra)
        if proc.returncode != 0:
            return f"query {name} --format {fmt}: exit {proc.returncode}: {proc.stderr.strip()}"
        columns, rows = parse(fmt, proc.stdout, target)
        expected_columns, expected_rows = duckdb_answer(demo_root, named_query_sql(name).rstrip().rstrip(";"))
        if len(rows) != expected_rows:
            return f"query {name} --format {fmt}: {len(rows)} rows, DuckDB says {expected_rows}"
        if fmt in ("csv", "parquet") and columns != expected_columns:
            return f"query {name} --format {fmt}: columns {columns} != {expected_columns}"
        return None

    with ThreadPoolExecutor(max_workers=3) as pool:
        problems = [p for p in pool.map(check, cases) if p]
    assert not problems, "\n".join(problems)


REFUSED = [
    "COPY (SELECT 42) TO '{out}'",
    "EXPORT DATABASE '{out}'",
    "ATTACH '{out}' AS other",
    "ATTACH '{out}' AS other (READ_WRITE)",
    "INSTALL '{out}'",
    "CREATE TEMP TABLE notes AS SELECT 1",
    "CREATE TABLE notes (i INTEGER)",
    "INSERT INTO receipts SELECT * FROM receipts",
    "UPDATE quarantine SET reason = 'x'",
    "DELETE FROM receipts",
    "DROP VIEW escalations",
    "SET GLOBAL threads = 1",
    "SET memory_limit = '1GB'",
    "CHECKPOINT",
    "SET profiling_output = '{out}.txt'; SET enable_profiling = 'query_tree'; SELECT 1",
    "EXPLAIN ANALYZE COPY (SELECT 42) TO '{out}'",
    "SELECT 1; COPY (SELECT 42) TO '{out}'",
]


@pytest.mark.parametrize("template", REFUSED)
def test_read_only_refuses_what_would_write(demo_root: Path, tmp_path: Path, template: str) -> None:
    out = tmp_path / "written.json"
    catalog = demo_root / "data" / "lakehouse.duckdb"
    before = catalog.stat().st_mtime_ns, catalog.stat().st_size
    proc = lakehouse("sql", template.format(out=out), "--root", str(demo_root))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert (catalog.stat().st_mtime_ns, catalog.stat().st_size) == before


def test_write_runs_what_read_only_refuses(demo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    proc = lakehouse("sql", f"COPY (SELECT 42 AS answer) TO '{out}'", "--root", str(demo_root), "--write")
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().split() == ["answer", "42"]


def test_allowed_session_statements_run(demo_root: Path) -> None:
    proc = lakehouse(
        "sql",
        "SET VARIABLE k = 3; SET search_path = 'main'; SELECT getvariable('k') AS k, count(*) AS runs FROM replay_runs",
        "--root",
        str(demo_root),
        "--format",
        "jsonl",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["k"] == 3


def test_a_long_result_streams_and_the_table_says_what_it_left_out(demo_root: Path, tmp_path: Path) -> None:
    sql = (
        "SELECT range AS i, TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(range) AS t FROM range(300000)"
    )
    table = lakehouse("sql", sql, "--root", str(demo_root), "--format", "table")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert len(lines) == 2 + 100 + 1 and lines[-1] == "(first 100 of 300,000 rows; --limit N shows more)"
    jsonl = lakehouse("sql", sql, "--root", str(demo_root), "--format", "jsonl")
    assert jsonl.stdout.count("\n") == 300000
    assert json.loads(jsonl.stdout.splitlines()[-1]) == {"i": 299999, "t": "2026-01-04T11:19:59Z"}
    limited = lakehouse("sql", sql, "--root", str(demo_root), "--format", "csv", "--limit", "5")
    assert limited.stdout.splitlines()[1:] == [f"{i},2026-01-01T00:00:0{i}Z" for i in range(5)]
    assert "299,995 more rows not written" in limited.stderr


def test_piped_output_is_jsonl_and_a_file_takes_its_format_from_its_name(
    demo_root: Path, tmp_path: Path
) -> None:
    piped = lakehouse("sql", "SELECT 1 AS one", "--root", str(demo_root))
    assert piped.stdout == '{"one":1}\n'
    target = tmp_path / "one.csv"
    to_file = lakehouse("sql", "SELECT 1 AS one", "--root", str(demo_root), "--output", str(target))
    assert to_file.returncode == 0 and target.read_text() == "one\n1\n"


def test_explain_analyze_reads_the_evidence_inside_its_sandbox(demo_root: Path) -> None:
    proc = lakehouse(
        "sql", "EXPLAIN ANALYZE SELECT count(*) FROM evidence", "--root", str(demo_root), "--format", "jsonl"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["explain_key"] == "analyzed_plan"


@pytest.mark.parametrize("statement", ["SET search_path = 'main'", "SET VARIABLE k = 1", "BEGIN"])
def test_a_script_may_end_with_a_statement_that_returns_nothing(demo_root: Path, statement: str) -> None:
    for fmt in FORMATS:
        extra = ["--output", str(demo_root.parent / "nothing.parquet")] if fmt == "parquet" else []
        proc = lakehouse("sql", statement, "--root", str(demo_root), "--format", fmt, *extra)
        assert proc.returncode == 0, (fmt, proc.stderr)


def test_regating_the_demos_history_with_the_built_in_gates_changes_no_verdict(tmp_path: Path) -> None:
    """A new user's first `lakehouse regate` on the demo: the same gates judge its recorded runs as they
    were judged (its failed answers refuse, as their reason says; they once cited the playbook they were
    said not to cite, and re-judging "fixed" 14 of them)."""
    root = tmp_path / "demo"
    assert lakehouse("demo", "--root", str(root), "--lines", "100").returncode == 0
    for label in ("baseline", "candidate"):
        proc = lakehouse("regate", "--label", label, "--as", f"{label}-again", "--root", str(root))
        assert proc.returncode == 0, proc.stderr
        assert "0 now fail, 0 now pass" in proc.stderr, proc.stderr
