"""The tree shows the architecture: imports between packages run one way (README, Layout of the code),
and no module grows past 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast
PACKAGE = Path(__file__).resolve().parent.parent / "lakehouse"
# What each stage may import (the README's table); the CLI and the package root may import anything.
ALLOWED = {
    "core": set(),
    "ingest": {"core"},
    "gateway": {"core"},
    "retrieval": {"core", "ingest", "gateway"},
    "catalog": {"core", "ingest", "retrieval"},
    "gates": {"core", "gateway"},
    "replay": {"core", "gateway", "retrieval", "gates"},
    "report": {"core", "catalog", "lake"},
    "lake": {"core"},
    "otlp": {"core", "ingest"},
    "pipeline": {"core", "ingest", "retrieval", "catalog", "lake"},
    "demo": {"core", "retrieval", "replay", "pipeline"},
    "publisher": {"core", "lake", "pipeline"},
}


def lakehouse_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "lakehouse" and len(parts) > 1:
                found.add(parts[1])
            elif parts[0] == "lakehouse" and isinstance(node, ast.ImportFrom):
                found.update(alias.name for alias in node.names)
    return found


def stage_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return (
        relative.parts[0].removesuffix(".py")
        if len(relative.parts) > 1 or relative.stem in ("pipeline", "publisher")
        else ""
    )


def test_imports_between_stages_point_down() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = stage_of(path)
        if stage not in ALLOWED:
            continue
        for target in lakehouse_imports(path) - {stage, "__version__"}:
            if target in ALLOWED and target not in ALLOWED[stage]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert wrong == []


def test_every_stage_is_in_the_table() -> None:
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} | {
        "pipeline",
        "publisher",
    }
    assert stages - {"cli", "sql"} == set(ALLOWED)


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}
