"""Shared fixtures: a root in tmp_path, a CLI runner, and the lake's servers (started once, when a test asks).

Helpers to import live in support.py and lake_support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from lake_servers import Postgres, S3Server
from lake_support import Lakes

from lakehouse.core.paths import Layout, open_root


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    root = tmp_path / "root"
    root.mkdir()
    return open_root(root, create=True)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("pg"))
    yield server
    server.remove()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def lakes(postgres: Postgres, s3: S3Server) -> Lakes:
    """A factory of new, empty lakes (each its own database and bucket)."""
    return Lakes(postgres, s3)
