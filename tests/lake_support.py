"""Helpers of the lake's tests: the CLI with S3 keys in its environment, demo roots, the lake's status
and SQL as a user reads them, and a factory of new, empty lakes on the servers of lake_servers.py."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from lake_servers import Postgres, S3Server
from support import lakehouse_command

AWS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
_names = itertools.count()


class Lakes:
    """New lakes, each with its own PostgreSQL database and bucket."""

    def __init__(self, postgres: Postgres, s3: S3Server) -> None:
        self.postgres, self.s3 = postgres, s3

    def new(self) -> list[str]:
        """``lake init`` options for a new, empty lake."""
        name = f"lake{os.getpid()}x{next(_names)}"
        self.postgres.create_database(name)
        self.s3.bucket(name)
        return ["--catalog", self.postgres.dsn(name), "--data", f"s3://{name}/agents/",
                "--s3-endpoint", self.s3.url, "--s3-url-style", "path"]  # fmt: skip


def lakehouse(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*lakehouse_command(), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **AWS, **(env or {})},
        timeout=180,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The CLI in a process of its own, running beside others (its threads' stacks on SIGABRT)."""
    return subprocess.Popen(
        [*lakehouse_command(), *args],
        env={**os.environ, **AWS, "PYTHONFAULTHANDLER": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def terminated(proc: subprocess.Popen[str], timeout: float = 60, *, signalled: bool = False) -> str:
    """SIGTERM (unless ``signalled`` already), as a service manager stops a long-running command; its
    stderr once it has stopped. One that does not stop within ``timeout`` fails the test with its
    threads' stacks (SIGABRT), and is killed if even that does not end it."""
    if not signalled:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            err = proc.communicate(timeout=30)[1]
        finally:
            proc.kill()
        pytest.fail(
            f"{proc.args[1:4]} did not stop within {timeout:g} s of SIGTERM; its stderr:\n{err[-8000:]}"
        )


def demo_root(tmp_path: Path, name: str, seed: int = 5, lines: int = 600) -> Path:
    root = tmp_path / name
    lakehouse("demo", "--root", str(root), "--seed", str(seed), "--lines", str(lines))
    return root


def status(root: Path) -> dict[str, dict[str, int]]:
    lines = lakehouse("lake", "status", "--root", str(root), "--json").stdout.splitlines()
    return {row["table"]: row for row in map(json.loads, lines)}


def lake_sql(root: Path, sql: str) -> list[dict[str, object]]:
    done = lakehouse("sql", "--lake", sql, "--root", str(root), "--format", "jsonl")
    return [json.loads(line) for line in done.stdout.splitlines()]
