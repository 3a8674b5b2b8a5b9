"""Gate files: the built-in gates shipped in the package, and a user's ``--gates DIR``.

A directory of gates holds ``NAME.sql`` (a ``/* purpose */`` header, then one SELECT over the one-row
relation ``run``; each row it returns, with its ``reason``, fails the run) and ``NAME.judge.md`` (a
first line ``model: NAME``, then the rubric a judge model is asked with). The built-in gates are the
seed's four (PRODUCT.md §4), Python files in ``lakehouse/gates/builtin``: their order and reason
strings are the seed's. Gates run in file-name order, the built-in ones first.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lakehouse.core.errors import GateError
from lakehouse.core.sqlfiles import purpose
from lakehouse.gates.run import Run

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
# The built-in set's name in provenance.gates_version. Its files' hash is pinned by a test, so a
# change to any of them has to change this name too (runs judged before and after then differ).
BUILTIN_VERSION = "gates.v1"
SQL_SUFFIX, JUDGE_SUFFIX = ".sql", ".judge.md"
_MODEL_LINE = re.compile(r"\A\s*model\s*:\s*(\S.*?)\s*\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Gate:
    """One gate: ``kind`` is builtin (``check``), sql (``sql``) or judge (``model`` and ``rubric``)."""

    name: str
    kind: str
    path: Path
    check: Callable[[Run], list[str]] | None = None
    sql: str = ""
    model: str = ""
    rubric: str = ""


def files_sha256(paths: list[Path]) -> str:
    """One hash over the files' names and bytes, in order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def builtin() -> tuple[Gate, ...]:
    gates = []
    for path in builtin_files():
        spec = importlib.util.spec_from_file_location(f"lakehouse.gates.builtin.{path.stem}", path)
        if spec is None or spec.loader is None:  # pragma: no cover - the package ships them
            raise GateError(f"cannot load the built-in gate {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        gates.append(Gate(name=_name(path), kind="builtin", path=path, check=module.check))
    return tuple(gates)


def builtin_files() -> list[Path]:
    return sorted(BUILTIN_DIR.glob("[0-9]*.py"))


def user_files(directory: Path) -> list[Path]:
    """The gate files of a directory, by name; a directory without any is refused (a typo, surely)."""
    if not directory.is_dir():
        raise GateError(f"--gates {directory}: no such directory")
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.name.endswith((SQL_SUFFIX, JUDGE_SUFFIX))
    )
    if not files:
        raise GateError(f"--gates {directory}: no gate files in it (NAME.sql or NAME.judge.md)")
    return files


def read(path: Path) -> Gate:
    """A user's gate file, checked for its shape (its SQL is checked when the set is built)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"gate {path}: cannot read it: {exc}") from exc
    if path.name.endswith(JUDGE_SUFFIX):
        first, _, rubric = text.partition("\n")
        match = _MODEL_LINE.match(first)
        if not match:
            raise GateError(f"gate {path}: the first line must be 'model: NAME' (the judge model)")
        if not rubric.strip():
            raise GateError(f"gate {path}: no rubric after the model line")
        return Gate(_name(path), "judge", path, model=match.group(1), rubric=rubric.strip())
    if not purpose(text):
        raise GateError(f"gate {path}: start it with a /* purpose */ comment saying what it checks")
    sql = text.strip().rstrip(";").strip()
    if ";" in _without_comments(sql):
        raise GateError(f"gate {path}: one SELECT only (it has several statements)")
    return Gate(_name(path), "sql", path, sql=sql)


def _name(path: Path) -> str:
    stem = path.name.removesuffix(JUDGE_SUFFIX).removesuffix(SQL_SUFFIX).removesuffix(".py")
    return re.sub(r"\A\d+_", "", stem)


def _without_comments(sql: str) -> str:
    """The SQL without comments and string constants (to count its statements)."""
    return re.sub(r"/\*.*?\*/|--[^\n]*|'(?:[^']|'')*'", "", sql, flags=re.S)
