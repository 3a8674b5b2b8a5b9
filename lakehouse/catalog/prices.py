"""The price table: ``data/prices.csv`` (``model,input_usd_per_mtok,output_usd_per_mtok,valid_from``).

People edit it by hand or with ``lakehouse prices set``; every command that writes the catalog loads it
into the catalog's ``prices`` table (when it changed), which ``replay_calls``, ``llm_spans`` and
``model_call_evidence`` price calls with (``cost_usd``: NULL where no price is known, never 0). A
price holds from its ``valid_from`` day (UTC; empty: always) until the model's next row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass
from datetime import date

import duckdb

from lakehouse.core import db
from lakehouse.core.errors import StorageError, UsageError
from lakehouse.core.files import atomic_write
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load, quote_ident

HEADER = ["model", "input_usd_per_mtok", "output_usd_per_mtok", "valid_from"]
ALWAYS = date(1970, 1, 1)
META_KEY = "prices_sha256"


@dataclass(frozen=True)
class Price:
    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    valid_from: date = ALWAYS


def read(layout: Layout) -> list[Price]:
    """The file's prices (none without a file); a malformed file is a usage error naming the line."""
    return parse(_text(layout), str(layout.prices))


def parse(text: str, where: str = "prices.csv") -> list[Price]:
    text = text.removeprefix("\ufeff")  # a spreadsheet's byte-order mark
    if not text.strip():
        return []
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip().lower() for h in rows[0]]
    if header != HEADER:
        raise UsageError(f"{where}: the first line must be {','.join(HEADER)} (it is {','.join(rows[0])})")
    prices: dict[tuple[str, date], Price] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(HEADER):
            raise UsageError(f"{where}:{number}: {len(row)} fields, expected {len(HEADER)}")
        model = row[0].strip()
        if not model:
            raise UsageError(f"{where}:{number}: no model")
        price = Price(
            model, _usd(row[1], where, number), _usd(row[2], where, number), _day(row[3], where, number)
        )
        if (model, price.valid_from) in prices:
            raise UsageError(f"{where}:{number}: {model} has two prices from {price.valid_from}")
        prices[(model, price.valid_from)] = price
    return sorted(prices.values(), key=lambda p: (p.model, p.valid_from))


def write(layout: Layout, prices: list[Price]) -> None:
    """The file, atomically, sorted by model and day."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for p in sorted(prices, key=lambda p: (p.model, p.valid_from)):
        valid_from = "" if p.valid_from == ALWAYS else p.valid_from.isoformat()
        writer.writerow(
            [p.model, usd_text(p.input_usd_per_mtok), usd_text(p.output_usd_per_mtok), valid_from]
        )
    try:
        atomic_write(layout.prices, buffer.getvalue().encode())
    except OSError as exc:
        raise StorageError(f"cannot write {layout.prices}: {exc.strerror or exc}") from exc


def set_price(layout: Layout, price: Price) -> list[Price]:
    """Add the price, or replace the model's price from the same day; returns the new table."""
    prices = [p for p in read(layout) if (p.model, p.valid_from) != (price.model, price.valid_from)]
    prices.append(price)
    write(layout, prices)
    return sorted(prices, key=lambda p: (p.model, p.valid_from))


def sync_into(con: duckdb.DuckDBPyConnection, layout: Layout) -> bool:
    """Load the file into the catalog's ``prices`` when it changed since the last load; True if it did."""
    text = _text(layout)
    digest = hashlib.sha256(text.encode()).hexdigest()
    row = con.execute("SELECT value FROM catalog_meta WHERE key = ?", [META_KEY]).fetchone()
    if row is not None and row[0] == digest:
        return False
    rows = [
        {
            "model": p.model,
            "input_usd_per_mtok": p.input_usd_per_mtok,
            "output_usd_per_mtok": p.output_usd_per_mtok,
            "valid_from": p.valid_from,
        }
        for p in parse(text, str(layout.prices))
    ]
    con.execute("DELETE FROM prices")
    if rows:
        db.run_sql(con, load("schema/sync_prices"), {"rows": rows})
    con.execute("DELETE FROM catalog_meta WHERE key = ?", [META_KEY])
    con.execute("INSERT INTO catalog_meta VALUES (?, ?)", [META_KEY, digest])
    return True


STALE_WARNING = (
    "data/prices.csv changed since the catalog loaded it: costs use the old prices (run 'lakehouse sync')"
)


def is_stale(con: duckdb.DuckDBPyConnection, layout: Layout, database: str | None = None) -> bool:
    """Whether the file changed since the catalog (``database`` on ``con``) last loaded it: read-only
    commands then show costs from the old prices, and say so (reading never writes)."""
    table = f"{quote_ident(database)}.main.catalog_meta" if database else "catalog_meta"
    try:
        row = con.execute(f"SELECT value FROM {table} WHERE key = ?", [META_KEY]).fetchone()
        text = _text(layout)
    except duckdb.CatalogException:  # no catalog_meta (dropped by hand): 'lakehouse sync' makes it again
        return True
    except UsageError:  # unreadable now: not what was loaded ('lakehouse sync' says what is wrong)
        return True
    return row is None or row[0] != hashlib.sha256(text.encode()).hexdigest()


def with_stale_warning(con: duckdb.DuckDBPyConnection, layout: Layout, warning: str | None) -> str | None:
    """A reader's ``warning`` (its mirror's, say), and :data:`STALE_WARNING` after it when the file changed."""
    return "; ".join(filter(None, (warning, STALE_WARNING if is_stale(con, layout) else None))) or None


def usd_text(value: float) -> str:
    """A price as the file writes it: the shortest text that reads back as the same number."""
    return repr(float(value)).removesuffix(".0")


def _text(layout: Layout) -> str:
    try:
        return layout.prices.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {layout.prices}: {exc}") from exc


def _usd(text: str, where: str, number: int) -> float:
    cleaned = text.strip().removeprefix("$").replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise UsageError(
            f"{where}:{number}: {text.strip()!r} is not a price in USD per million tokens (a number >= 0)"
        )
    return value


def _day(text: str, where: str, number: int) -> date:
    if not text.strip():
        return ALWAYS
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(f"{where}:{number}: valid_from {text.strip()!r} is not a day (YYYY-MM-DD)") from exc
