"""Shared record types of the corpus and replay stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A RAG corpus document (one line of ``data/_kb/rag_corpus.jsonl``)."""

    rag_id: str
    title: str
    text: str
    tags: tuple[str, ...] = ()
    source_evidence_ids: tuple[str, ...] = ()
    updated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rag_id": self.rag_id,
            "title": self.title,
            "text": self.text,
            "tags": list(self.tags),
            "source_evidence_ids": list(self.source_evidence_ids),
            "updated_at": self.updated_at,
        }

    @property
    def content(self) -> tuple[str, str, tuple[str, ...]]:
        """What makes two versions of a document different (``updated_at`` does not)."""
        return (self.title, self.text, self.tags)


@dataclass(frozen=True)
class Hit:
    """One retrieved document with its score: BM25, cosine similarity, or fused (reciprocal rank)."""

    rag_id: str
    title: str
    score: float
    found_by: tuple[str, ...] = ()  # which methods found it (vector and hybrid retrieval)


@dataclass
class RetrievedPlaybook:
    rag_id: str
    title: str
    text: str
    score: float
    found_by: tuple[str, ...] = ()  # empty for BM25 retrieval, whose bundles stay as they were

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "rag_id": self.rag_id,
            "title": self.title,
            "text": self.text,
            "score": self.score,
        }
        if self.found_by:
            record["found_by"] = list(self.found_by)
        return record


@dataclass
class ContextBundle:
    """What retrieval hands to the prompt: the task and its top-k playbooks."""

    task: str
    retrieved_playbooks: list[RetrievedPlaybook] = field(default_factory=list)
    method: str = "bm25"

    @property
    def rag_ids(self) -> list[str]:
        return [p.rag_id for p in self.retrieved_playbooks]

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "retrieval": self.method,
            "retrieved_playbooks": [p.to_json() for p in self.retrieved_playbooks],
        }
