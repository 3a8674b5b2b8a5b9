"""An answer that refuses ("I can't", "as an AI", ...) fails, quoting what it said."""

from __future__ import annotations

import re

from lakehouse.gates.run import Run

# (?=[ia]) only lets the search skip positions where no alternative can start (2.5x faster on long
# answers; every alternative starts with i or a, and the lookahead folds case as they do).
REFUSALS = re.compile(
    r"(?=[ia])\b(i can['’]?t|i cannot|i can not|i['’]m unable|i am unable|i won['’]?t|as an ai\b|as a language model)",
    re.IGNORECASE,
)


def check(run: Run) -> list[str]:
    refusal = REFUSALS.search(run.response)
    return [f"refusal: response says {refusal.group(0)!r}"] if refusal else []
