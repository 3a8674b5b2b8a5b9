"""Shared fixtures: a root in tmp_path, stream writers, a CLI runner, catalog connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from lakehouse.paths import Layout, open_root


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    root = tmp_path / "root"
    root.mkdir()
    return open_root(root, create=True)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def read_catalog(layout: Layout) -> Iterator[Any]:
    """Open the catalog read-only for a query; every connection is closed at teardown."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def query(sql: str, params: Any = None) -> list[tuple]:
        con = duckdb.connect(str(layout.catalog), read_only=True)
        opened.append(con)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    yield query
    for con in opened:
        con.close()
