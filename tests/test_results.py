"""Result conversion and SQL constants, stated as invariants and searched by hypothesis."""

from __future__ import annotations

import csv
import io
import json
import math

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse.catalog.results import Result, unique_names
from lakehouse.cli import output
from lakehouse.core.sqlfiles import constant_list, number_literal, quote_literal

pytestmark = pytest.mark.fast

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def result_of(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> Result:
    con.execute("SET arrow_lossless_conversion = true")
    cursor = con.execute(sql, params)
    return Result([d[0] for d in cursor.description], cursor.to_arrow_reader(1024))


def jsonl_lines(text: str) -> list[str]:
    """JSONL's lines: split on \\n only (str.splitlines would also split inside strings holding U+0085)."""
    return text.split("\n")[:-1]


def written(result: Result, fmt: str, limit: int | None = 0) -> str:
    sink = io.BytesIO()
    output.write(result, fmt, sink, limit=limit)
    return sink.getvalue().decode()


@FAST
@given(st.text())
def test_any_string_constant_reads_back_as_itself(value: str) -> None:
    assert duckdb.sql(f"SELECT {quote_literal(value)}").fetchone()[0] == value


@FAST
@given(st.lists(st.text(min_size=1), min_size=1, max_size=8))
def test_a_constant_list_holds_exactly_its_values(values: list[str]) -> None:
    rows = duckdb.sql(f"SELECT unnest([{constant_list(values)}]::VARCHAR[])").fetchall()
    assert [r[0] for r in rows] == values


@FAST
@given(
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=20)
)
def test_doubles_survive_jsonl(con: duckdb.DuckDBPyConnection, values: list[float | None]) -> None:
    con.register("t", pa.table({"x": pa.array(values, pa.float64())}))
    result = result_of(con, "SELECT x FROM t")
    back = [json.loads(line)["x"] for line in written(result, "jsonl").splitlines()]
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    for original, text in zip(values, back, strict=True):
        got = special.get(text, text) if isinstance(text, str) else text
        if original is None:
            assert got is None
        elif math.isnan(original):
            assert isinstance(got, float) and math.isnan(got)
        else:
            assert got == original  # the shortest text that reads back the same double


@FAST
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=20))
def test_strings_survive_csv_and_json(con: duckdb.DuckDBPyConnection, values: list[str | None]) -> None:
    values = [v.replace("\0", "") if v is not None else None for v in values]
    con.register(
        "t", pa.table({"s": pa.array(values, pa.string()), "n": pa.array(range(len(values)), pa.int64())})
    )
    header, *rows = list(
        csv.reader(io.StringIO(written(result_of(con, "SELECT * FROM t"), "csv"), newline=""))
    )
    assert header == ["s", "n"]
    assert [r[0] for r in rows] == [v or "" for v in values] and [int(r[1]) for r in rows] == list(
        range(len(values))
    )
    records = json.loads(written(result_of(con, "SELECT * FROM t"), "json"))
    assert [r["s"] for r in records] == values


def test_duplicate_column_names_become_distinct_json_keys(con: duckdb.DuckDBPyConnection) -> None:
    text = written(result_of(con, "SELECT 1 AS a, 2 AS a, 3 AS a_2"), "jsonl")
    assert json.loads(text) == {"a": 1, "a_2": 2, "a_2_2": 3}
    assert unique_names(["a", "a", "b", "a"]) == ["a", "a_2", "b", "a_3"]


def test_empty_results_are_valid_in_every_format(con: duckdb.DuckDBPyConnection) -> None:
    sql = "SELECT 1 AS one, 'x' AS two WHERE false"
    assert written(result_of(con, sql), "json") == "[]\n"
    assert written(result_of(con, sql), "jsonl") == ""
    assert written(result_of(con, sql), "csv") == "one,two\n"
    assert written(result_of(con, sql), "table").splitlines()[-1] == "(0 rows)"
    sink = io.BytesIO()
    output.write(result_of(con, sql), "parquet", sink)
    back = pq.read_table(io.BytesIO(sink.getvalue()))
    assert back.num_rows == 0 and back.column_names == ["one", "two"]


def test_limit_counts_every_row_and_writes_the_first(con: duckdb.DuckDBPyConnection) -> None:
    sink = io.BytesIO()
    report = output.write(result_of(con, "SELECT range AS i FROM range(5000)"), "jsonl", sink, limit=7)
    assert (report.rows, report.written, report.left_out) == (5000, 7, 4993)
    assert [json.loads(line)["i"] for line in sink.getvalue().decode().splitlines()] == list(range(7))


NESTED = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4),
    max_leaves=12,
)


@FAST
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1)), max_size=5),
        min_size=1,
        max_size=10,
    )
)
def test_lists_survive_json_exactly(con: duckdb.DuckDBPyConnection, values: list[list[int | None]]) -> None:
    con.register("t", pa.table({"l": pa.array(values, pa.list_(pa.int64()))}))
    back = [
        json.loads(line)["l"] for line in jsonl_lines(written(result_of(con, "SELECT l FROM t"), "jsonl"))
    ]
    assert back == values


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "name": st.one_of(st.none(), st.text()),
                "tags": st.lists(st.text(), max_size=3),
                "n": st.integers(0, 10**9),
            }
        ),
        min_size=1,
        max_size=10,
    )
)
def test_structs_survive_json_and_csv(con: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    rows = [{**r, "name": r["name"].replace("\0", "") if r["name"] else r["name"]} for r in rows]
    rows = [{**r, "tags": [t.replace("\0", "") for t in r["tags"]]} for r in rows]  # type: ignore[union-attr]
    con.register("t", pa.table({"s": pa.array(rows)}))
    as_json = [
        json.loads(line)["s"] for line in jsonl_lines(written(result_of(con, "SELECT s FROM t"), "jsonl"))
    ]
    assert as_json == rows
    _, *cells = list(csv.reader(io.StringIO(written(result_of(con, "SELECT s FROM t"), "csv"), newline="")))
    assert [json.loads(c[0]) for c in cells] == rows  # nested values are JSON text in csv


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), -float("inf"), "1", b"1", [1]])
def test_number_literal_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(TypeError):
        number_literal(value)  # type: ignore[arg-type]


@given(st.one_of(st.integers(-(2**63) + 1, 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)))
def test_number_literal_reads_back_as_the_same_number(value: int | float) -> None:
    con = duckdb.connect()
    try:
        (read,) = con.execute(f"SELECT {number_literal(value)}").fetchone()
    finally:
        con.close()
    assert read == value and type(read) is type(value)
