"""Docs that cannot rot: every command documented with an example, every transform and query listed."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from lakehouse.cli import cli
from lakehouse.core.sqlfiles import purpose, sql_dir
from lakehouse.ingest.transforms import load_transforms

pytestmark = pytest.mark.fast

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands() -> list[tuple[str, click.Command]]:
    found = []
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            found.extend((f"{name} {sub}", c) for sub, c in command.commands.items())
            if command.invoke_without_command:  # a group that acts alone (lakehouse prices)
                found.append((name, command))
        else:
            found.append((name, command))
    return found


def test_readme_starts_with_make_demo_and_make_test() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


@pytest.mark.parametrize(("name", "command"), commands())
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    help_text = (command.help or "").strip()
    assert help_text, f"{name} has no help"
    assert help_text.splitlines()[-1].strip().startswith("Example: lakehouse "), (
        f"{name} help must end with an Example:"
    )


@pytest.mark.parametrize(("name", "command"), commands())
def test_every_command_is_in_the_readme(name: str, command: click.Command) -> None:
    assert f"lakehouse {name}" in README


@pytest.mark.parametrize("transform", load_transforms(), ids=lambda t: t.name)
def test_every_transform_is_listed_in_the_readme(transform) -> None:
    assert f"`{transform.stream}`" in README and f"`{transform.kind}`" in README


@pytest.mark.parametrize("path", sorted((sql_dir()).rglob("*.sql")), ids=lambda p: p.name)
def test_every_sql_file_states_its_purpose(path: Path) -> None:
    assert purpose(path.read_text(encoding="utf-8")), f"{path} must start with a /* purpose */ comment"


@pytest.mark.parametrize("path", sorted((sql_dir() / "queries").glob("*.sql")), ids=lambda p: p.stem)
def test_every_named_query_is_listed_in_the_readme(path: Path) -> None:
    assert f"`{path.stem}`" in README
