"""The installed package ships its SQL (a non-editable install would hide a gap)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lakehouse
from lakehouse.core.sqlfiles import load, sql_dir
from lakehouse.ingest.transforms import builtin_dir

pytestmark = pytest.mark.fast

PACKAGE = Path(lakehouse.__file__).resolve().parent
FROM_SOURCE_TREE = (PACKAGE.parent / "pyproject.toml").exists()


def test_sql_is_shipped_inside_the_installed_package() -> None:
    if FROM_SOURCE_TREE:
        if os.environ.get("LH_REQUIRE_INSTALLED"):
            pytest.fail(f"make test must run against the installed package, not {PACKAGE}")
        pytest.skip("running from a source tree (editable install)")
    assert sql_dir() == PACKAGE / "sql"
    assert len(list(builtin_dir().glob("*.sql"))) == 14  # the twelve streams, OpenTelemetry spans and logs
    assert "lh_otel_model" in load("otel/conventions")
    assert "CREATE TABLE IF NOT EXISTS receipts" in load("schema/catalog")
    assert "CREATE OR REPLACE VIEW evidence" in load("schema/evidence_view")
    assert len(list((sql_dir() / "corpus").glob("*.sql"))) >= 5


def test_extensions_load_offline() -> None:
    import duckdb

    from lakehouse.core.db import load_extension

    con = duckdb.connect()
    try:
        load_extension(con, "fts")
        load_extension(con, "vss")
        loaded = dict(con.execute("SELECT extension_name, loaded FROM duckdb_extensions()").fetchall())
    finally:
        con.close()
    assert loaded["fts"] and loaded["vss"]
