"""An empty (or all-whitespace) answer fails: "empty response"."""

from __future__ import annotations

from lakehouse.gates.run import Run


def check(run: Run) -> list[str]:
    return [] if run.response.strip() else ["empty response"]
