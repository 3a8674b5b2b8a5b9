"""Validation gates for a model's answer (PRODUCT.md §4); each failed gate adds a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lakehouse.core.types import ContextBundle

GATES_VERSION = "gates.v1"
CITATION = re.compile(r"rag:[A-Za-z0-9_.\-]+")
REFUSALS = re.compile(
    r"\b(i can['’]?t|i cannot|i can not|i['’]m unable|i am unable|i won['’]?t|as an ai\b|as a language model)",
    re.IGNORECASE,
)


@dataclass
class ValidationResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons)}


def cited_ids(response: str) -> list[str]:
    """rag_ids the answer cites, as ``[rag:x]`` or bare ``rag:x`` (a sentence's final dot is not part of it)."""
    seen: dict[str, None] = {}
    for match in CITATION.findall(response):
        seen[match.rstrip(".-")] = None
    return list(seen)


def validate(response: str, bundle: ContextBundle | None) -> ValidationResult:
    reasons: list[str] = []
    if not response.strip():
        reasons.append("empty response")
    else:
        refusal = REFUSALS.search(response)
        if refusal:
            reasons.append(f"refusal: response says {refusal.group(0)!r}")
    if bundle is not None and bundle.retrieved_playbooks:
        retrieved = set(bundle.rag_ids)
        cited = cited_ids(response)
        if not any(c in retrieved for c in cited):
            reasons.append("response cites no retrieved rag_id")
        unknown = [c for c in cited if c not in retrieved]
        if unknown:
            reasons.append("response cites rag_ids that were not retrieved: " + ", ".join(unknown))
    return ValidationResult(passed=not reasons, reasons=reasons)
