"""Re-run recorded runs under the options their provenance recorded (``lakehouse replay --of``).

A selector is a ``recorded_run_id`` or ``label:NAME`` (every run with that label). Each re-run is the
recorded ``input_task`` under every option ``provenance.options`` recorded, except those the caller
overrides (a new ``--local-model`` is the common case), with ``provenance.replay_of`` set to the
original run. A line written without provenance (another writer) is re-run with the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from lakehouse.core.paths import Layout
from lakehouse.replay.runner import LOG_RESPONSE_CHARS, NOT_OPTIONS, ReplayRequest

LABEL_PREFIX = "label:"
# What a recorded run's options may set again; the task, its label and what it re-runs are the re-run's own.
REPLAYABLE = {f.name for f in fields(ReplayRequest)} - {"task", "label", "replay_of", *NOT_OPTIONS}


@dataclass
class Selection:
    """The requests that re-run what the selectors named, and what could not be selected as asked."""

    requests: list[ReplayRequest] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    without_provenance: list[str] = field(default_factory=list)


def log_runs(layout: Layout) -> Iterator[dict[str, Any]]:
    """The runs of data/_kb/replay_runs.jsonl in log order, read once by every command that looks back
    (re-run, regate, captured replays). A line that is not a run (a torn last line, another writer's
    garbage) is skipped, as the catalog's mirror skips it."""
    if not layout.replay_runs.exists():
        return
    with open(layout.replay_runs, "rb") as handle:
        for line in handle:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("recorded_run_id"), str):
                yield record


def provenance_of(record: dict[str, Any]) -> dict[str, Any]:
    provenance = record.get("provenance")
    return provenance if isinstance(provenance, dict) else {}


def recorded_runs(layout: Layout) -> dict[str, dict[str, Any]]:
    """Every run of the log by its id, in log order."""
    return {record["recorded_run_id"]: record for record in log_runs(layout)}


def select(layout: Layout, selectors: list[str], overrides: dict[str, Any], label: str) -> Selection:
    """Requests re-running the runs ``selectors`` name, in log order, each run once."""
    runs = recorded_runs(layout)
    selection = Selection()
    chosen: dict[str, dict[str, Any]] = {}
    for selector in selectors:
        if selector.startswith(LABEL_PREFIX):
            name = selector[len(LABEL_PREFIX) :]
            matches = [r for r in runs.values() if (r.get("provenance") or {}).get("label") == name]
        else:
            matches = [runs[selector]] if selector in runs else []
        if not matches:
            selection.unknown.append(selector)
        chosen.update((r["recorded_run_id"], r) for r in matches)
    for run_id, record in chosen.items():
        options = (record.get("provenance") or {}).get("options")
        if not isinstance(options, dict):
            selection.without_provenance.append(run_id)
            options = {}
        recorded = {k: v for k, v in options.items() if k in REPLAYABLE and v is not None}
        if options and "fusion" not in options:
            recorded["fusion"] = (
                "rrf"  # recorded before --fusion: hybrid retrieval was reciprocal rank fusion
            )
        selection.requests.append(
            ReplayRequest(
                task=str(record.get("input_task") or ""),
                **{**recorded, **overrides},
                label=label,
                replay_of=run_id,
                recorded_response=str(record.get("model_response") or "")[:LOG_RESPONSE_CHARS],
            )
        )
    return selection
