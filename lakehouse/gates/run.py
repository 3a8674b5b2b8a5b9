"""What a gate judges: one answer of one run (the relation ``run`` of a SQL gate)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

CITATION = re.compile(r"rag:[A-Za-z0-9_.\-]+")

# The columns of the one-row relation ``run`` a SQL gate selects from (README, "Gates").
RUN_SCHEMA = pa.schema(
    [
        ("task", pa.string()),
        ("response", pa.string()),
        ("rag_ids", pa.list_(pa.string())),
        ("model", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("latency_ms", pa.int64()),
        ("recorded_response", pa.string()),
    ]
)


@dataclass(frozen=True)
class Run:
    """An answer to judge: the task, the answer, the rag_ids retrieved for it (empty without a bundle),
    the call that produced it, and the captured or recorded answer it may be held against."""

    task: str
    response: str
    rag_ids: tuple[str, ...] = ()
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    recorded_response: str | None = None


def cited_ids(response: str) -> list[str]:
    """rag_ids the answer cites, as ``[rag:x]`` or bare ``rag:x`` (a sentence's final dot is not part of it)."""
    seen: dict[str, None] = {}
    for match in CITATION.findall(response):
        seen[match.rstrip(".-")] = None
    return list(seen)


def as_table(runs: list[Run]) -> pa.Table:
    """Runs as the Arrow table a SQL gate reads (one row a run, in order)."""
    columns = {name: [getattr(r, name) for r in runs] for name in RUN_SCHEMA.names}
    columns["rag_ids"] = [list(r.rag_ids) for r in runs]
    return pa.table(columns, schema=RUN_SCHEMA)
