"""SQL gates, evaluated by DuckDB over an Arrow table of runs (one run in a replay, all of a label in regate).

Each gate is one statement over every run at once (``sql/gates/apply.sql``: a LATERAL join feeds each
run to the gate as its one-row relation ``run``), so re-judging 100,000 runs is one query a gate. A
gate that raises on some run (a cast of an answer that is not JSON, say) is run again run by run, so
only the runs it raised on fail, each with the error as its reason.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import duckdb
import pyarrow as pa

from lakehouse.core import db
from lakehouse.core.errors import GateError
from lakehouse.core.sqlfiles import load, render
from lakehouse.gates.files import Gate
from lakehouse.gates.run import Run, as_table

RAISED = (
    ": the gate failed: "  # a reason a gate gives where it raised instead of judging (NAME + RAISED + error)
)


def raised_by(reasons: Iterable[str]) -> set[str]:
    """The gates that raised on a run instead of judging it (a cast of text, say), from its reasons."""
    return {name for name, found, _ in (reason.partition(RAISED) for reason in reasons) if found}


class SqlGates:
    """The SQL gates of a set, with one in-memory DuckDB connection (a cursor per thread)."""

    def __init__(self, gates: list[Gate]) -> None:
        self.gates = gates
        self._statements = {g.name: render(load("gates/apply"), gate=g.sql) for g in gates}
        self._con = db.memory() if gates else None  # the built-in set alone needs no DuckDB
        self._local = threading.local()
        empty = _indexed([])
        for gate in gates:  # refuse a gate that does not run, or has no reason column, when it is loaded
            try:
                self._run(gate, empty)
            except duckdb.Error as exc:
                raise GateError(f"gate {gate.path}: {db.one_line(exc)}") from exc

    def check(self, runs: list[Run]) -> list[dict[str, list[str]]]:
        """Each run's reasons by gate name (a gate that passes a run is absent from its dict)."""
        reasons: list[dict[str, list[str]]] = [{} for _ in runs]
        if not runs or not self.gates:
            return reasons
        table = _indexed(runs)
        for gate in self.gates:
            for idx, reason in self._gate_rows(gate, table):
                text = reason if reason is not None else f"{gate.name}: failed (no reason given)"
                reasons[idx].setdefault(gate.name, []).append(text)
        return reasons

    def _gate_rows(self, gate: Gate, table: pa.Table) -> list[tuple[int, str | None]]:
        try:
            return self._run(gate, table)
        except duckdb.Error as exc:
            if table.num_rows == 1:
                return [(int(table["idx"][0].as_py()), f"{gate.name}{RAISED}{db.one_line(exc)}")]
        rows: list[tuple[int, str | None]] = []
        for i in range(table.num_rows):  # find which runs it raised on
            rows += self._gate_rows(gate, table.slice(i, 1))
        return rows

    def _run(self, gate: Gate, table: pa.Table) -> list[tuple[int, str | None]]:
        con = getattr(self._local, "con", None)
        if con is None:
            assert self._con is not None
            con = self._local.con = self._con.cursor()
        con.register("runs", table)
        try:
            return con.execute(self._statements[gate.name]).fetchall()
        finally:
            con.unregister("runs")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


def _indexed(runs: list[Run]) -> pa.Table:
    """The runs as the relation ``runs`` of sql/gates/apply.sql: each with its position, ``idx``."""
    return as_table(runs).add_column(0, "idx", pa.array(range(len(runs)), pa.int64()))
