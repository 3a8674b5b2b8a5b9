"""SQL lives in ``.sql`` files (``sql/`` in the source tree, ``lakehouse/sql`` once installed).

Each file starts with a ``/* purpose */`` comment and is loaded by name, e.g.
``load("schema/catalog")``. Identifiers that cannot be bound as parameters go through
:func:`quote_ident` only; constants in generated SQL through :func:`quote_literal`.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

from lakehouse.core.errors import UsageError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # lakehouse/, beside core/
_PURPOSE = re.compile(r"\A\s*/\*(.*?)\*/", re.S)


def sql_dir() -> Path:
    """The shipped ``sql`` folder: inside the installed package, else the source tree's."""
    installed = _PACKAGE_DIR / "sql"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "sql"


@cache
def load(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    path = sql_dir() / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"no SQL file named {name!r} in {sql_dir()}") from exc


def purpose(sql: str) -> str:
    """The leading ``/* ... */`` comment of a SQL text, on one line."""
    match = _PURPOSE.match(sql)
    return " ".join(match.group(1).split()) if match else ""


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB, doubling embedded double quotes."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string constant for generated SQL; a NUL character (which ends a SQL text) as chr(0)."""
    quoted = "'" + value.replace("'", "''") + "'"
    if "\0" not in value:
        return quoted
    return "(" + quoted.replace("\0", "' || chr(0) || '") + ")"


def number_literal(value: int | float | None) -> str:
    """A number the program computed, as SQL text (DOUBLE for floats, NULL for None); anything else is refused."""
    kind = type(value)  # the common cases first: scoring statements write a few hundred numbers each
    if kind is int:
        return repr(value)
    if kind is float and math.isfinite(value):
        return _double(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"not a finite number: {value!r}")
    return repr(value) if isinstance(value, int) else _double(value)


def _double(value: float) -> str:
    """A DOUBLE literal: scientific notation, which DuckDB reads as DOUBLE at once (a decimal literal with a
    cast is folded by the optimizer: 10 % of a search batch's statement, measured), with the 18 significant
    digits that read back as the same double."""
    return f"{value:.17e}"


def render(template: str, **values: str) -> str:
    """Fill ``{{name}}`` placeholders of a SQL template; every one must be given."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder {name!r} has no value")
        return values[name]

    return re.sub(r"\{\{(\w+)\}\}", fill, template)


def constant_list(values: list[str] | list[int]) -> str:
    """Values the program holds (ids, tokens), as a comma-separated list of SQL constants.

    Written into the statement rather than bound: DuckDB's Python client tries ``import pandas`` for
    every bound value, which without pandas searches sys.path under the import lock (~60 us a value,
    and serialised across threads: 15 % of the load benchmark's rate). Constants in an ``IN (...)``
    list still let zone maps prune, unlike a list parameter used with ``list_contains``.
    """
    return ", ".join(quote_literal(v) if isinstance(v, str) else number_literal(v) for v in values)
