"""A set of gates (the built-in ones, plus a directory's) and how it judges an answer or many."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.core.errors import GateError
from lakehouse.gates import files, judge
from lakehouse.gates.files import Gate
from lakehouse.gates.run import Run
from lakehouse.gates.sqlgate import SqlGates


@dataclass
class Verdict:
    """The reasons an answer fails (none: it passes) and the judge calls made to decide."""

    reasons: list[str] = field(default_factory=list)
    judge_calls: list[dict[str, Any]] = field(default_factory=list)


class GateSet:
    """Gates in the order they run; ``version`` is provenance.gates_version (README, "Gates")."""

    def __init__(self, gates: list[Gate], version: str, directory: Path | None = None) -> None:
        names = [g.name for g in gates]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise GateError(
                f"gate names must be unique: {', '.join(twice)} (a built-in gate's name is taken)"
            )
        self.gates = gates
        self.version = version
        self.directory = directory
        self._sql = SqlGates([g for g in gates if g.kind == "sql"])
        self.judges = [g for g in gates if g.kind == "judge"]

    def check(self, run: Run, caller: judge.Caller | None = None) -> Verdict:
        """Judge one answer; ``caller`` asks judge models (a set with judge gates needs one)."""
        verdict = Verdict()
        by_sql = self._sql.check([run])[0]
        for gate in self.gates:
            if gate.kind == "builtin":
                verdict.reasons += gate.check(run)
            elif gate.kind == "sql":
                verdict.reasons += by_sql.get(gate.name, [])
            else:
                if caller is None:
                    raise GateError(f"judge gate {gate.name} needs a model to ask")
                reasons, call = judge.judge(gate, run, caller)
                verdict.reasons += reasons
                verdict.judge_calls.append(call)
        return verdict

    def check_many(self, runs: list[Run]) -> list[list[str]]:
        """Judge many answers without calling any model (``regate``): a set with judge gates is refused."""
        if self.judges:
            raise GateError(
                "re-judging calls no model, and these gates include judge gates: "
                + ", ".join(g.name for g in self.judges)
            )
        by_sql = self._sql.check(runs)
        return [
            [
                reason
                for gate in self.gates
                for reason in (gate.check(run) if gate.kind == "builtin" else found.get(gate.name, []))
            ]
            for run, found in zip(runs, by_sql, strict=True)
        ]

    def close(self) -> None:
        self._sql.close()


_lock = threading.Lock()
_sets: dict[tuple[Any, ...], GateSet] = {}


def load(directory: str | Path | None = None) -> GateSet:
    """The built-in gates plus ``directory``'s (cached per directory and its files' sizes and times).

    Called once per replay: the built-in set alone is a lock-free dictionary lookup (a lock taken
    by 50 replay threads at once cost the load benchmark measurably).
    """
    if directory is None:
        key: tuple[Any, ...] = ()
    else:
        path = Path(directory).expanduser().resolve()
        found = files.user_files(path)
        key = (str(path), *((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in found))
    cached = _sets.get(key)  # a dict lookup is atomic; only building a set takes the lock
    if cached is not None:
        return cached
    with _lock:
        cached = _sets.get(key)
        if cached is not None:
            return cached
        builtin = list(files.builtin())
        if directory is None:
            gate_set = GateSet(builtin, files.BUILTIN_VERSION)
        else:
            digest = files.files_sha256(found)[:16]
            gate_set = GateSet(
                builtin + [files.read(p) for p in found], f"{files.BUILTIN_VERSION}+{digest}", path
            )
        _sets[key] = gate_set
        return gate_set
