"""Validation gates as files (PRODUCT.md §12): what decides whether an answer passes.

``files`` (the built-in gates, the seed's four, and a ``--gates DIR`` of SQL gates ``NAME.sql`` and
judge gates ``NAME.judge.md``), ``run`` (:class:`Run`, the answer judged: the relation ``run`` of a
SQL gate), ``sqlgate`` (SQL gates evaluated by DuckDB over many runs at once), ``judge`` (asking a
judge model, and reading its PASS/FAIL), ``gateset`` (:class:`GateSet`: ``check`` one answer in a
replay, ``check_many`` in a re-judge; :func:`load` the built-in set plus a directory's, with its
``version``). Uses core and the gateway's call result; replay and regate use it.
"""

from lakehouse.gates.files import BUILTIN_VERSION
from lakehouse.gates.gateset import GateSet, Verdict, load
from lakehouse.gates.run import Run, cited_ids
from lakehouse.gates.sqlgate import RAISED, raised_by

__all__ = ["BUILTIN_VERSION", "RAISED", "GateSet", "Run", "Verdict", "cited_ids", "load", "raised_by"]
