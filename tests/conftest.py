"""Shared fixtures: a root in tmp_path and a CLI runner (helpers to import live in support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.core.paths import Layout, open_root


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    root = tmp_path / "root"
    root.mkdir()
    return open_root(root, create=True)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
