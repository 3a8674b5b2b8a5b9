"""The root's retention (``data/_state/retention.json``): the first day ``lakehouse prune`` kept.

Evidence days and replay runs before it were removed; the catalog mirror drops runs before it
however often the replay log is read again (``sync`` of a damaged catalog, ``rebuild``).
"""

from __future__ import annotations

import json
from datetime import date

from lakehouse.core.errors import StorageError
from lakehouse.core.paths import Layout


def kept_from(layout: Layout) -> date | None:
    """The first day kept, or None when nothing was ever pruned."""
    try:
        raw = json.loads(layout.retention.read_text(encoding="utf-8"))
        return date.fromisoformat(raw["before"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"{layout.retention} is unreadable: {exc}") from exc


def record(before: date) -> dict[str, str]:
    """What retention.json holds once ``before`` is the first day kept."""
    return {"before": before.isoformat()}
