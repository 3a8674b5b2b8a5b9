"""Query results in every output format, every DuckDB type converted by DuckDB's own casts.

A result leaves the catalog connection as Arrow record batches (DuckDB's lossless Arrow export,
so UUID, JSON, HUGEINT and TIME WITH TIME ZONE keep their types) and is rendered by a private
in-memory DuckDB: each column becomes one expression built from its type, with the leaf
conversions of ``sql/output/macros.sql``. No value passes through a Python object on the way,
so large results stream at DuckDB's speed and no type can surprise a Python converter.

Offers :class:`Result` (what a query returned) and :class:`Renderer` (the conversions).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import duckdb.sqltypes
import pyarrow as pa

from lakehouse.core import db
from lakehouse.core.sqlfiles import load, quote_ident, quote_literal

ROWS_PER_BATCH = 65_536

INTEGER_TYPES = {
    "tinyint", "smallint", "integer", "bigint", "hugeint",
    "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint",
}  # fmt: skip
FLOAT_TYPES = {"float", "double"}
TIMESTAMP_TYPES = {"timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns"}
NESTED_TYPES = {"list", "array", "struct", "map"}
# Types pyarrow cannot write to Parquet (or DuckDB exports to Arrow only in a form readers cannot
# use): written as their text.
PARQUET_AS_TEXT = {"interval", "time with time zone", "union", "bit", "uhugeint", "varint", "bignum"}

DuckType = duckdb.sqltypes.DuckDBPyType
Leaf = Callable[[str, DuckType], str]
Source = pa.RecordBatchReader | pa.Table


@dataclass
class Result:
    """What a statement returned: its column names and a stream of Arrow batches."""

    columns: list[str]
    batches: pa.RecordBatchReader

    @property
    def numeric(self) -> list[bool]:
        """Which columns hold numbers (a table right-aligns them)."""
        return [_is_numeric(field.type) for field in self.batches.schema]


def _is_numeric(arrow_type: pa.DataType) -> bool:
    if isinstance(arrow_type, pa.BaseExtensionType):  # DuckDB's opaque hugeint, uhugeint
        return getattr(arrow_type, "type_name", "") in ("hugeint", "uhugeint")
    return (
        pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    )


def _is_json(t: DuckType) -> bool:
    return str(t) == "JSON"


def _children(t: DuckType) -> list[tuple[str, DuckType]]:
    return list(t.children)


def map_leaves(expr: str, t: DuckType, leaf: Leaf, *, map_keys_as_text: bool) -> str:
    """An expression with ``leaf`` applied to every scalar inside ``expr`` (lists, structs, maps kept)."""
    depth = itertools.count()

    def walk(expr: str, t: DuckType) -> str:
        if t.id in ("list", "array"):
            var = f"lh_v{next(depth)}"
            return f"list_transform({expr}, lambda {var}: {walk(var, _children(t)[0][1])})"
        if t.id == "struct":
            fields = ", ".join(
                f"{quote_literal(name)}: {walk(f'({expr}).{quote_ident(name)}', child)}"
                for name, child in _children(t)
            )
            return f"CASE WHEN ({expr}) IS NULL THEN NULL ELSE {{{fields}}} END" if fields else expr
        if t.id == "map":
            (_, key_type), (_, value_type) = _children(t)
            var = f"lh_e{next(depth)}"
            key = f"CAST({var}.key AS VARCHAR)" if map_keys_as_text else walk(f"{var}.key", key_type)
            entry = f"{{'key': {key}, 'value': {walk(f'{var}.value', value_type)}}}"
            return f"map_from_entries(list_transform(map_entries({expr}), lambda {var}: {entry}))"
        return leaf(expr, t)

    return walk(expr, t)


def json_leaf(expr: str, t: DuckType) -> str:
    """A scalar as a value whose ``to_json`` is what the README's table promises."""
    if t.id in INTEGER_TYPES or t.id in ("boolean", "decimal") or _is_json(t) or t.id == "varchar":
        return expr  # numbers exactly as DuckDB holds them, strings and JSON as they are
    if t.id in FLOAT_TYPES:
        return f"lh_out_float_json({expr})"
    return text_leaf(expr, t)


def text_leaf(expr: str, t: DuckType) -> str:
    """A scalar as VARCHAR, for csv (and, nested values aside, the terminal table)."""
    if t.id == "timestamp with time zone":
        return f"lh_out_timestamptz({expr})"
    if t.id in TIMESTAMP_TYPES:
        return f"lh_out_timestamp({expr})"
    if t.id in FLOAT_TYPES:
        return f"lh_out_float_text({expr})"
    if t.id == "blob":
        return f"lh_out_blob({expr})"
    return f"CAST({expr} AS VARCHAR)"


def display_leaf(expr: str, t: DuckType) -> str:
    return f"lh_out_float_display({expr})" if t.id in FLOAT_TYPES else text_leaf(expr, t)


def json_value(expr: str, t: DuckType) -> str:
    return map_leaves(expr, t, json_leaf, map_keys_as_text=True)


def text_value(expr: str, t: DuckType, leaf: Leaf = text_leaf) -> str:
    """VARCHAR: scalars through ``leaf``, nested values and JSON as JSON text, NULL as NULL."""
    if t.id in NESTED_TYPES:
        return f"CAST(to_json({json_value(expr, t)}) AS VARCHAR)"
    return leaf(expr, t)


def parquet_leaf(expr: str, t: DuckType) -> str:
    return text_leaf(expr, t) if t.id in PARQUET_AS_TEXT else expr


def unique_names(columns: list[str]) -> list[str]:
    """Column names made unique (a JSON object cannot hold a key twice): a, a_2, a_3, ..."""
    seen: dict[str, int] = {}
    names = []
    for name in columns:
        count = seen[name] = seen.get(name, 0) + 1
        candidate = name if count == 1 else f"{name}_{count}"
        while candidate in seen and candidate != name:
            count += 1
            candidate = f"{name}_{count}"
        seen.setdefault(candidate, 1)
        names.append(candidate)
    return names


class Renderer:
    """A private in-memory DuckDB that renders result batches: DuckDB's casts, never Python objects."""

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:")
        db.configure(self.con)
        self.con.execute(load("output/macros"))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _project(
        self, source: Source, build: Callable[[list[str], list[DuckType]], str]
    ) -> pa.RecordBatchReader:
        """Batches of ``SELECT <build(columns, types)> FROM source``, converted by DuckDB as they are read."""
        relation = self.con.from_arrow(source)
        names = [quote_ident(c) for c in relation.columns]
        return relation.project(build(names, relation.types)).to_arrow_reader(ROWS_PER_BATCH)

    def text(self, source: Source, *, display: bool = False) -> pa.RecordBatchReader:
        """Every column as VARCHAR (csv; the terminal table with ``display``)."""
        leaf = display_leaf if display else text_leaf

        def build(names: list[str], types: list[DuckType]) -> str:
            return ", ".join(f"{text_value(n, t, leaf)} AS {n}" for n, t in zip(names, types, strict=True))

        return self._project(source, build)

    def json_lines(self, source: Source) -> pa.RecordBatchReader:
        """One VARCHAR column: each row as a JSON object, keys in column order (names must be unique)."""
        keys = source.schema.names

        def build(names: list[str], types: list[DuckType]) -> str:
            fields = ", ".join(
                f"{quote_literal(k)}: {json_value(n, t)}" for k, n, t in zip(keys, names, types, strict=True)
            )
            return f"CAST(to_json({{{fields}}}) AS VARCHAR) AS line" if fields else "'{}' AS line"

        return self._project(source, build)

    def parquet_ready(self, source: Source) -> pa.RecordBatchReader:
        """The batches with the types pyarrow cannot write to Parquet turned into their text."""

        def build(names: list[str], types: list[DuckType]) -> str:
            return ", ".join(
                f"{map_leaves(n, t, parquet_leaf, map_keys_as_text=False)} AS {n}"
                for n, t in zip(names, types, strict=True)
            )

        return self._project(source, build)
