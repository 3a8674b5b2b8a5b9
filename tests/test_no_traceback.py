"""No traceback, ever, without --debug: every command of the click group, with --help and with bad input.

Commands are discovered from the group, and the bad inputs from each command's parameters (every
file or folder it takes, and --root), so a new command or option is covered by the same loops.
The installed ``lakehouse`` runs in a real process, as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
from support import lakehouse_command

from lakehouse.cli import cli

pytestmark = pytest.mark.slow

DOCUMENTED_EXIT_CODES = {0, 1, 2, 4}
ERROR_EXIT_CODES = {2, 4}

# The least each command needs to run; "{file}" is a valid small JSONL file. A command missing here
# fails test_every_command_has_a_minimal_invocation, so new commands get their bad-input runs too.
MINIMAL = {
    "compact": [],
    "compare": ["baseline", "candidate"],
    "corpus add": ["{file}"],
    "corpus reindex": ["--embedding-model", "m", "--gateway-url", "http://127.0.0.1:9"],
    "corpus search": ["flaky test"],
    "corpus tune-fusion": ["--embedding-model", "m", "--gateway-url", "http://127.0.0.1:9"],
    "demo": ["--lines", "100"],
    "lake init": ["--catalog", "postgres:dbname=x host=127.0.0.1 port=9 user=u", "--data", "s3://b/p/"],
    "lake publisher": ["--interval", "1"],  # in a root that joined no lake: fails before it runs
    "lake maintain": [],  # in a root that joined no lake: one line saying how to join
    "lake push": [],
    "lake status": [],
    "materialize": [],
    "otlp import": ["{file}"],
    "otlp serve": ["--port", "0"],  # only its bad --root values run: each fails before it listens
    "prices": [],
    "prices set": ["m", "--input", "1", "--output", "2"],
    "prune": ["--before", "2026-01-01", "--yes"],
    "query": ["pass_rate_by_day_and_model"],
    "quarantine list": [],
    "quarantine retry": [],
    "report": ["--since", "2026-01-01"],
    "rebuild": [],
    "regate": ["--label", "baseline", "--as", "rejudged"],
    "replay": ["fix the flaky test", "--dry-run"],
    "sql": ["SELECT 1"],
    "stats": [],
    "sync": [],
}


# Commands that only read: they never write into the root (tests/test_read_only.py).
READERS = {"stats", "sql", "query", "compare", "corpus search", "quarantine list", "lake status", "prices"}


def leaf_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found.update(leaf_commands(command, path))
            if command.invoke_without_command:  # a group that acts alone (lakehouse prices) is a command too
                found[" ".join(path)] = command
        else:
            found[" ".join(path)] = command
    return found


def every_command_path(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += every_command_path(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*lakehouse_command(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        env={**os.environ, "LH_GATEWAY_URL": "http://127.0.0.1:9"},
    )


def test_every_command_has_a_minimal_invocation() -> None:
    assert set(leaf_commands()) == set(MINIMAL)


def test_help_of_every_command(tmp_path: Path) -> None:
    def check(path: tuple[str, ...]) -> str | None:
        proc = run([*path, "--help"], tmp_path)
        name = " ".join(("lakehouse", *path))
        if proc.returncode != 0 or not proc.stdout.startswith("Usage: ") or proc.stderr:
            return f"{name} --help: exit {proc.returncode}, stderr {proc.stderr!r}"
        if (
            "Example" not in proc.stdout
            and path
            and not isinstance(cli.get_command(None, path[0]), click.Group)
        ):
            return f"{name} --help shows no example"
        return None

    with ThreadPoolExecutor(max_workers=3) as pool:
        problems = [p for p in pool.map(check, every_command_path()) if p]
    assert not problems, "\n".join(problems)


def unwritable_dir(tmp_path: Path) -> Path:
    """A folder this process cannot write into: by permissions, or for root, one in /proc."""
    if os.geteuid() == 0:
        return Path("/proc/self/fdinfo")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, bool]]:
    """Bad values for a file or folder parameter: (path, whether it must be an error)."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 64)
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder\n")
    return {
        "missing": (tmp_path / "no-such-thing", True),
        "folder": (folder, True),
        "empty": (empty, False),
        "binary": (binary, False),
        "file": (a_file, True),
        "unwritable": (unwritable_dir(tmp_path) / "out.jsonl", True),
    }


def cases(tmp_path: Path, valid_file: Path, root: Path) -> list[tuple[str, list[str], bool]]:
    """(label, argv, must fail) for every command and every bad value of each path parameter."""
    inputs = bad_inputs(tmp_path)
    found = []
    for name, command in leaf_commands().items():
        base = [arg.replace("{file}", str(valid_file)) for arg in MINIMAL[name]]
        for param in command.params:
            if not isinstance(param.type, click.Path):
                continue
            wants_dir = not param.type.file_okay
            if param.name == "root":
                missing = tmp_path / f"no-root-for-{name.replace(' ', '-')}"
                bad = {
                    "missing": (missing, name != "demo"),  # demo makes its root, as its example shows
                    "a file": inputs["file"],
                    # a reader needs no writable root (it may still fail for want of a catalog)
                    "unwritable": (unwritable_dir(tmp_path), name not in READERS),
                }
            elif wants_dir:
                bad = {k: inputs[k] for k in ("missing", "file")}
            elif param.type.exists:
                bad = {k: inputs[k] for k in ("missing", "folder", "empty", "binary")}
            else:  # a file the command writes
                bad = {k: inputs[k] for k in ("folder", "unwritable")}
            for label, (value, must_fail) in bad.items():
                if isinstance(param, click.Argument):
                    argv = [str(value) if a == str(valid_file) else a for a in base]
                else:
                    argv = [*base, param.opts[0], str(value)]
                if param.name != "root":
                    argv += ["--root", str(root)]
                found.append((f"{name} {param.name}={label}", [*name.split(), *argv], must_fail))
    return found


def test_bad_input_to_every_command_is_one_error_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    setup = run(["demo", "--root", str(root), "--lines", "200"], tmp_path)
    assert setup.returncode == 0, setup.stderr
    valid_file = tmp_path / "docs.jsonl"
    valid_file.write_text('{"title": "t", "text": "flaky test runbook"}\n')
    all_cases = cases(tmp_path, valid_file, root)
    assert len(all_cases) >= 30

    def check(case: tuple[str, list[str], bool]) -> str | None:
        label, argv, must_fail = case
        proc = run(argv, tmp_path)
        lines = proc.stderr.splitlines()
        if "Traceback" in proc.stderr:
            return f"{label}: traceback\n{proc.stderr}"
        if proc.returncode not in DOCUMENTED_EXIT_CODES:
            return f"{label}: exit {proc.returncode} is not documented"
        if must_fail and proc.returncode not in ERROR_EXIT_CODES:
            return f"{label}: exit {proc.returncode}, expected an error"
        if proc.returncode in ERROR_EXIT_CODES:
            errors = [line for line in lines if line.startswith("error: ")]
            if not lines or not lines[-1].startswith("error: ") or len(errors) != 1:
                return (
                    f"{label}: exit {proc.returncode} without one closing 'error: ...' line: {proc.stderr!r}"
                )
        return None

    with ThreadPoolExecutor(max_workers=3) as pool:
        problems = [p for p in pool.map(check, all_cases) if p]
    assert not problems, "\n".join(problems)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = run(["--debug", "stats", "--root", str(tmp_path / "missing")], tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
