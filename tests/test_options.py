"""Options that do what they say: an option whose help says it acts only with another ("With --X: ...")
is refused without it (one line, exit 2), never silently ignored. Found by walking the click tree, so a
new dependent option is covered by writing its help the same way."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest
from support import lakehouse_command
from test_no_traceback import MINIMAL, leaf_commands

pytestmark = pytest.mark.slow
DEPENDS = re.compile(r"^With ((?:--[a-z-]+)(?: or --[a-z-]+)*)")


def a_value(param: click.Option) -> list[str]:
    """The option given with a value other than its default."""
    if param.is_flag:
        return [param.opts[0]]
    if isinstance(param.type, click.Choice):
        other = next(c for c in param.type.choices if c != param.default)
        return [param.opts[0], str(other)]
    if isinstance(param.type, click.types._NumberRangeBase | click.types.IntParamType):
        return [param.opts[0], str((param.default or 0) + 1)]
    return [param.opts[0], "x"]


def dependent_options() -> list[tuple[str, click.Option, list[str]]]:
    found = []
    for name, command in leaf_commands().items():
        for param in command.params:
            match = DEPENDS.match(getattr(param, "help", None) or "")
            if isinstance(param, click.Option) and match:
                found.append((name, param, match.group(1).split(" or ")))
    return found


def test_the_walk_finds_the_dependent_options() -> None:
    found = {(name, param.opts[0]) for name, param, _ in dependent_options()}
    assert {("replay", "--concurrency"), ("replay", "--fusion"), ("corpus search", "--fusion")} <= found


@pytest.mark.parametrize(
    ("name", "param", "needs"), dependent_options(), ids=lambda v: v if isinstance(v, str) else None
)
def test_an_option_without_what_it_needs_is_refused(
    tmp_path: Path, name: str, param: click.Option, needs: list[str]
) -> None:
    valid_file = tmp_path / "docs.jsonl"
    valid_file.write_text('{"title": "t", "text": "flaky test runbook"}\n')
    argv = [arg.replace("{file}", str(valid_file)) for arg in MINIMAL[name]]
    assert not set(needs) & set(argv), f"MINIMAL[{name!r}] already gives {needs}"
    done = subprocess.run(
        [*lakehouse_command(), *name.split(), *argv, *a_value(param), "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {param.opts[0]} does nothing here"), lines


def test_a_named_query_and_the_list_of_them_are_one_or_the_other(tmp_path: Path) -> None:
    done = subprocess.run(
        [*lakehouse_command(), "query", "slowest_runs", "--list", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: give NAME or --list, not both")
