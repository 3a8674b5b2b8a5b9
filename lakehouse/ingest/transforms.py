"""Declarative transforms: one ``.sql`` file turns one stream into one kind of evidence.

A transform file is a ``/* purpose */`` comment, a few ``-- name: value`` header lines and
a ``SELECT ... FROM source``::

    /* tickets → ticket: one record per support ticket. */
    -- stream: tickets                       (reads data/_kb/tickets.jsonl)
    -- kind: ticket
    -- key: ticket_id                        (natural key fields; the evidence id hashes them)
    -- time: ts                              (event-time field, default ts)
    -- fields: ticket_id string, body string (fields read that stay in metadata)
    -- moved: run_id string, priority integer (fields read whose value moves to a column)
    -- max_line_bytes: 268435456             (optional: this stream's lines may be that long)
    SELECT line_no, run_id, body AS text, priority AS score FROM source

``source`` has ``line_no`` and one typed column per declared field. A line whose field has
another JSON type than declared is quarantined, and so is one without a parseable event time.
The SELECT returns ``line_no`` plus any of :data:`MAPPED_COLUMNS`; missing ones are NULL.
Metadata is the source object without the time field and the ``moved`` fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from lakehouse.core.errors import TransformError
from lakehouse.core.sqlfiles import load, purpose, quote_ident, quote_literal, render, sql_dir


@dataclass(frozen=True)
class FieldType:
    """A declared field type: its column's SQL type, and the macro (sql/macros.sql) that reads a JSON
    value for what it means, NULL when it has no reading (the line is then quarantined)."""

    sql_type: str
    macro: str

    def expression(self, value: str, kind: str) -> str:
        """The reading of ``value`` whose JSON type ``kind`` was read before (the macro's ``_of`` form)."""
        return f"{self.macro}_of({value}, {kind})"


FIELD_TYPES: dict[str, FieldType] = {
    "string": FieldType("VARCHAR", "lh_as_string"),
    "integer": FieldType("BIGINT", "lh_as_integer"),
    "number": FieldType("DOUBLE", "lh_as_number"),
    "boolean": FieldType("BOOLEAN", "lh_as_boolean"),
    "strings": FieldType("VARCHAR[]", "lh_as_strings"),
    "text": FieldType("VARCHAR", "lh_as_text"),
    "object": FieldType("JSON", "lh_as_object"),
    "array": FieldType("JSON", "lh_as_array"),
}

# Evidence columns a transform may produce, with the SQL type they are cast to.
MAPPED_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",
    "task_id": "VARCHAR",
    "model": "VARCHAR",
    "text": "VARCHAR",
    "passed": "BOOLEAN",
    "score": "DOUBLE",
    "prompt_tokens": "BIGINT",
    "completion_tokens": "BIGINT",
    "duration_ms": "BIGINT",
    "tags": "VARCHAR[]",
}

_HEADER = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KNOWN_HEADERS = {"stream", "kind", "key", "time", "fields", "moved", "max_line_bytes"}


@dataclass(frozen=True)
class Transform:
    """One parsed transform file."""

    name: str
    path: Path
    purpose: str
    stream: str
    kind: str
    key: tuple[str, ...]
    time_field: str
    fields: dict[str, str]  # every declared field → type
    moved: frozenset[str]
    select: str
    max_line_bytes: int | None = None  # lines of its stream up to this size are read (else --max-line-bytes)

    def stage_sql(self, lines_table: str, staged_table: str) -> str:
        spec = {name: "JSON" for name in self.all_fields}
        checks = [self._time_check(), *(self._type_check(n, t) for n, t in self.fields.items())]
        typed = [
            FIELD_TYPES[t].expression(f"f.{quote_ident(n)}", _kind_column(n)) + f" AS {_field_column(n)}"
            for n, t in self.fields.items()
        ]
        kinds = [f"json_type(f.{quote_ident(n)}) AS {_kind_column(n)}" for n in self.fields]
        return render(
            load("materialize/stage"),
            staged=quote_ident(staged_table),
            lines=quote_ident(lines_table),
            field_spec=quote_literal(json.dumps(spec)),
            checks="coalesce(" + ", ".join(checks) + ")",
            time_field=quote_ident(self.time_field),
            typed_fields=", ".join(typed) if typed else "NULL AS _no_fields",
            field_kinds=", ".join(kinds) if kinds else "NULL AS _no_kinds",
            natural_key=self._natural_key_sql(),
            field_columns=", ".join(_field_column(n) for n in self.fields) if typed else "NULL AS _no_fields",
        )

    def evidence_sql(self, staged_table: str, path: str, produced: set[str]) -> str:
        typed = [f"{_field_column(n)} AS {quote_ident(n)}" for n in self.fields]
        mapped = [_mapped_column(c, sql_type, produced) for c, sql_type in MAPPED_COLUMNS.items()]
        return render(
            load("materialize/evidence"),
            staged=quote_ident(staged_table),
            typed_fields=", ".join(typed) if typed else "NULL AS _no_fields",
            transform=self.select,
            kind=quote_literal(self.kind),
            stream=quote_literal(self.stream),
            path=quote_literal(path),
            mapped_columns=",\n    ".join(mapped),
            mapping_problem=_mapping_problem(produced),
            metadata_patch=quote_literal(json.dumps(dict.fromkeys([self.time_field, *sorted(self.moved)])))
            + "::JSON",
        )

    def quarantine_sql(self, staged_table: str, path: str, sql_name: str = "materialize/quarantine") -> str:
        """The staged lines with a problem into ``new_quarantine``; with ``materialize/quarantine_mapped``
        those of ``mapping_problems`` (line_no, problem): mapped values with no reading."""
        return render(
            load(sql_name),
            staged=quote_ident(staged_table),
            stream=quote_literal(self.stream),
            path=quote_literal(path),
            kind=quote_literal(self.kind),
        )

    def probe_sql(self) -> str:
        """The transform over an empty source, to learn its output columns."""
        typed = [
            f"CAST(NULL AS {FIELD_TYPES[t].sql_type}) AS {quote_ident(n)}" for n, t in self.fields.items()
        ]
        cols = ", ".join(["CAST(NULL AS BIGINT) AS line_no", *typed])
        return f"WITH source AS (SELECT {cols} LIMIT 0)\n{self.select}"

    @property
    def all_fields(self) -> list[str]:
        return [self.time_field, *[n for n in self.fields if n != self.time_field]]

    def _time_check(self) -> str:
        v = f"f.{quote_ident(self.time_field)}"
        name = self.time_field
        # the cheap test first: CASE evaluates the rest only for the rows it leaves (a time is rarely missing);
        # time_kind and time_text: the time field's JSON type and text, read once (materialize/stage)
        return (
            f"CASE WHEN event_time IS NOT NULL THEN NULL "
            f"WHEN {v} IS NULL OR time_kind = 'NULL' THEN {quote_literal('missing ' + name)} "
            f"ELSE {quote_literal('unparseable ' + name + ': ')} "
            f"|| left(coalesce(time_text, CAST({v} AS VARCHAR)), 64) END"
        )

    def _type_check(self, name: str, declared: str) -> str:
        """Why a present value has no reading as its declared type: the JSON type found, the type expected
        (the value itself is in the quarantined line; leaving it out keeps one reason per problem)."""
        kind = _kind_column(name)
        return (
            f"CASE WHEN {_field_column(name)} IS NULL AND {kind} <> 'NULL' "
            f"THEN {quote_literal(f'field {name!r} is ')} || lower({kind}) "
            f"|| {quote_literal(f', expected {declared}')} END"
        )

    def _natural_key_sql(self) -> str:
        if not self.key:
            return "NULL"
        parts = [f"(f.{quote_ident(k)} ->> '$')" for k in self.key]
        complete = " AND ".join(f"{p} IS NOT NULL" for p in parts)
        return f"CASE WHEN {complete} THEN concat_ws(chr(31), {', '.join(parts)}) END"


def _field_column(name: str) -> str:
    """A declared field's reading in the staged table (named apart from the table's own columns)."""
    return quote_ident(f"field:{name}")


def _kind_column(name: str) -> str:
    """A declared field's JSON type in the staged statement, read once for its reading and its check."""
    return quote_ident(f"kind:{name}")


def _mapped_column(column: str, sql_type: str, produced: set[str]) -> str:
    # TRY_CAST: a value with no reading as its column's type quarantines its line (_mapping_problem)
    # instead of failing the run (a replay run's token counts summing past BIGINT did)
    expr = (
        f"TRY_CAST(m.{quote_ident(column)} AS {sql_type})"
        if column in produced
        else f"CAST(NULL AS {sql_type})"
    )
    if column == "tags":
        expr = f"coalesce({expr}, CAST([] AS VARCHAR[]))"
    return f"{expr} AS {quote_ident(column)}"


def _mapping_problem(produced: set[str]) -> str:
    """Why a line's mapped values cannot be evidence (NULL when they can): the first output column whose
    value has no reading as the column's type (a number out of range, text for a number)."""
    checks = [
        f"CASE WHEN m.{quote_ident(c)} IS NOT NULL AND TRY_CAST(m.{quote_ident(c)} AS {sql_type}) IS NULL "
        f"THEN {quote_literal(c + ' ')} || left(CAST(m.{quote_ident(c)} AS VARCHAR), 64) "
        f"|| {quote_literal(' has no reading as ' + sql_type)} END"
        for c, sql_type in MAPPED_COLUMNS.items()
        if c in produced
    ]
    return f"coalesce({', '.join(checks)})" if checks else "CAST(NULL AS VARCHAR)"


def parse(path: Path) -> Transform:
    """Read one transform file; raise :class:`TransformError` naming the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TransformError(f"cannot read transform {path}: {exc.strerror}") from exc
    headers: dict[str, str] = {}
    body: list[str] = []
    for line in _strip_purpose(text).splitlines():
        match = _HEADER.match(line.strip())
        if match and not body and match.group(1) in _KNOWN_HEADERS:
            headers[match.group(1)] = match.group(2)
        elif line.strip() or body:
            body.append(line)
    where = f"transform {path.name}"
    for required in ("stream", "kind"):
        if not headers.get(required):
            raise TransformError(f"{where}: missing '-- {required}:' header")
    fields = _parse_fields(headers.get("fields", ""), where)
    moved = _parse_fields(headers.get("moved", ""), where)
    overlap = set(fields) & set(moved)
    if overlap:
        raise TransformError(f"{where}: {sorted(overlap)} declared both in fields and moved")
    time_field = headers.get("time", "ts")
    all_fields = {**fields, **moved}
    all_fields.pop(time_field, None)
    key = tuple(k.strip() for k in headers.get("key", "").split(",") if k.strip())
    for k in key:
        if k not in all_fields and k != time_field:
            raise TransformError(f"{where}: key field {k!r} is not declared in fields or moved")
    for name in (headers["stream"], time_field, *key):
        if not _NAME.match(name):
            raise TransformError(f"{where}: {name!r} is not a plain name")
    max_line_bytes = _parse_size(headers.get("max_line_bytes"), where)
    select = "\n".join(body).strip().rstrip(";")
    if not select.lower().startswith(("select", "with")):
        raise TransformError(f"{where}: the body must be a SELECT ... FROM source")
    return Transform(
        name=path.stem,
        path=path,
        purpose=purpose(text),
        stream=headers["stream"],
        kind=headers["kind"],
        key=key,
        time_field=time_field,
        fields=all_fields,
        moved=frozenset(moved),
        select=select,
        max_line_bytes=max_line_bytes,
    )


def _parse_size(text: str | None, where: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) < 1024:
        raise TransformError(f"{where}: max_line_bytes must be a whole number of bytes, at least 1024")
    return int(text)


def line_limit(transforms: list[Transform], stream: str, default: int) -> int:
    """How long a line of ``stream`` may be: ``default`` (--max-line-bytes), or more where a transform
    reading the stream says so (spans carry whole prompts: a 60k-token context is megabytes)."""
    declared = [t.max_line_bytes for t in transforms if t.stream == stream and t.max_line_bytes]
    return max([default, *declared])


def _strip_purpose(text: str) -> str:
    return re.sub(r"\A\s*/\*.*?\*/", "", text, count=1, flags=re.S)


def _parse_fields(spec: str, where: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        pieces = item.split()
        if len(pieces) != 2 or pieces[1] not in FIELD_TYPES:
            raise TransformError(
                f"{where}: field {item!r} must be 'name type' with type one of {', '.join(FIELD_TYPES)}"
            )
        fields[pieces[0]] = pieces[1]
    return fields


def builtin_dir() -> Path:
    return sql_dir() / "transforms"


def load_transforms(extra_dir: Path | None = None) -> list[Transform]:
    """The built-in transforms, then those of ``extra_dir`` (a user file of the same name replaces a built-in)."""
    by_name = {p.stem: p for p in sorted(builtin_dir().glob("*.sql"))}
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise TransformError(f"--transforms {extra_dir} is not a directory")
        by_name.update({p.stem: p for p in sorted(extra_dir.glob("*.sql"))})
    transforms = [parse(path) for _, path in sorted(by_name.items())]
    kinds: dict[str, str] = {}
    for t in transforms:
        if t.kind in kinds:
            raise TransformError(f"transforms {kinds[t.kind]} and {t.name} both emit kind {t.kind!r}")
        kinds[t.kind] = t.name
    return transforms
