"""With playbooks in the bundle, the answer must cite at least one retrieved rag_id ([rag:x] or bare rag:x)."""

from __future__ import annotations

from lakehouse.gates.run import Run, cited_ids


def check(run: Run) -> list[str]:
    if not run.rag_ids:
        return []
    retrieved = set(run.rag_ids)
    return (
        [] if any(c in retrieved for c in cited_ids(run.response)) else ["response cites no retrieved rag_id"]
    )
