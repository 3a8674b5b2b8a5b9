"""Helpers the tests import: stream writers, CLI invocation, real second processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from lakehouse.cli import cli
from lakehouse.core.paths import Layout
from lakehouse.core.types import Document

# What PRODUCT.md §6 promises an analyst who attaches the catalog.
ANALYST_TABLES = (
    "evidence",
    "replay_runs",
    "replay_calls",
    "escalations",
    "receipts",
    "quarantine",
    "rag_corpus",
    "spans",
    "llm_spans",
)


def write_stream(layout: Layout, stream: str, rows: list[Any], *, mode: str = "a") -> Path:
    """Append rows (dicts become JSON lines, bytes are written as given) to a stream."""
    path = layout.stream(stream)
    with open(path, mode + "b") as handle:
        for row in rows:
            handle.write(row if isinstance(row, bytes) else (json.dumps(row) + "\n").encode())
    return path


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(cli, list(args), catch_exceptions=False)


def lakehouse_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, **kwargs: Any
) -> subprocess.Popen[bytes]:
    """The CLI in a real second process (the installed package, as users run it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "lakehouse", *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def lakehouse_command() -> list[str]:
    """The installed ``lakehouse`` console script, as a user runs it."""
    script = Path(sys.executable).parent / "lakehouse"
    if script.exists():
        return [str(script)]
    found = shutil.which("lakehouse")
    if found is None:
        raise RuntimeError("the lakehouse command is not installed (run 'make test')")
    return [found]


def varied_documents(prefix: str, count: int, extra: str) -> list[Document]:
    """``count`` small documents over a few words, accents and stop words among them, plus ``extra``."""
    words = ["deploy", "rollback", "the", "café", "Naïve", "cache-miss", "v2", "queue", "and", "leak", extra]
    return [
        Document(
            f"rag:{prefix}{i:02d}",
            f"{prefix} {i}",
            " ".join(words[(i * 3 + j) % len(words)] for j in range(4 + i)),
        )
        for i in range(count)
    ]
