"""The replay prompt (system + user) and the dry run's stand-in answer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from lakehouse.core.types import ContextBundle

SYSTEM = (
    "You are an engineering assistant replaying a task. Answer with concrete steps. "
    "When playbooks are provided, ground the answer in them and cite each playbook you use by its id "
    "in square brackets, e.g. [rag:example]. Never cite an id that was not provided."
)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"{self.system}\x00{self.user}".encode()).hexdigest()


def build(task: str, bundle: ContextBundle | None) -> Prompt:
    """The user part carries the task and, with retrieval, each playbook introduced by its rag_id."""
    parts = [f"Task:\n{task}"]
    if bundle is not None:
        if bundle.retrieved_playbooks:
            parts.append("Playbooks (cite the ones you use by id):")
            for playbook in bundle.retrieved_playbooks:
                parts.append(f"[{playbook.rag_id}] {playbook.title}\n{playbook.text}")
        else:
            parts.append("No playbook matched this task.")
    return Prompt(SYSTEM, "\n\n".join(parts))


def dry_run_answer(task: str, bundle: ContextBundle | None) -> str:
    """A deterministic answer from the task and bundle, citing every retrieved id."""
    lines = [f"Dry-run answer for: {task}"]
    if bundle is not None and bundle.retrieved_playbooks:
        for playbook in bundle.retrieved_playbooks:
            lines.append(f"- Follow {playbook.title or playbook.rag_id} [{playbook.rag_id}]")
    else:
        lines.append("- No playbook retrieved; proceed from first principles.")
    return "\n".join(lines)


def messages_sha256(messages: list[dict[str, str]]) -> str:
    """The prompt hash of a captured call's messages (sent as recorded)."""
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
