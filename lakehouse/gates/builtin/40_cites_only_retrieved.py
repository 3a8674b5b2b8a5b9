"""With playbooks in the bundle, the answer must cite no rag_id that was not retrieved."""

from __future__ import annotations

from lakehouse.gates.run import Run, cited_ids


def check(run: Run) -> list[str]:
    if not run.rag_ids:
        return []
    retrieved = set(run.rag_ids)
    unknown = [c for c in cited_ids(run.response) if c not in retrieved]
    return ["response cites rag_ids that were not retrieved: " + ", ".join(unknown)] if unknown else []
