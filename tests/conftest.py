"""Shared fixtures: a root in tmp_path, a CLI runner, and the lake's servers (started once, when a test asks).

Helpers to import live in support.py and lake_support.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings
from lake_servers import Postgres, S3Server
from lake_support import Lakes

from lakehouse.core.paths import Layout, open_root

# No wall-clock deadline on a hypothesis example (its default is 200 ms): under four xdist workers on two
# cores a first example that opens DuckDB took 715 ms, and timing is for the benchmarks, not the tests.
settings.register_profile("lakehouse", deadline=None)
settings.load_profile("lakehouse")


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run's own $XDG_CACHE_HOME (the report's Vega bundle), for every process the tests start: never the
    developer's, and the bundle is built by the run, once (the folder is shared by the xdist workers)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "user-cache"
    folder.mkdir(exist_ok=True)
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


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
