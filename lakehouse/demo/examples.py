"""``lakehouse demo``: a realistic synthetic ``data/_kb``, materialized, replayed in dry run, summarised.

The streams are deterministic for a seed, and carry a handful of bad lines of every kind
PRODUCT.md §3.3 lists, so a newcomer sees the quarantine at work.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lakehouse import pipeline, replay, retrieval
from lakehouse.core import db
from lakehouse.core.errors import UsageError
from lakehouse.core.files import atomic_write
from lakehouse.core.paths import Layout
from lakehouse.core.sqlfiles import load
from lakehouse.demo import synth

DEFAULT_LINES = 6000
COMPARED_LABELS = ("baseline", "candidate")  # the labels of the synthetic replay history (synth._replay_run)
DEFAULT_DAYS = 28
# The demo's history is the four weeks that end on the day it first ran in a root (recorded in
# data/_state/demo.json), so the report's day axes hold data from end to end. Roots written before
# that ended on this fixed day; their streams are recognised and kept.
LEGACY_END_DAY = "2026-05-02"
LONG_LINE_BYTES = 1024 * 1024 + 64

# (stream, raw bytes appended) — one bad line of each kind; incidents ends mid-line (still being written).
BAD_LINES: list[tuple[str, bytes]] = [
    ("model_calls", b'{"ts": "2026-04-20T10:00:00Z", "call_id": "call-broken", "model": \n'),
    ("task_outcomes", b'["not", "an", "object"]\n'),
    ("audit_findings", b'{"audit_id": "audit-x", "finding_id": "f0", "finding": "no timestamp"}\n'),
    ("escalations", b'{"ts": "last tuesday", "run_id": "run-x", "from_model": "llama3.1:8b"}\n'),
    ("tool_calls", b'{"ts": "2026-04-21T09:00:00Z", "call_id": "tool-x", "tool": "shell", "ok": "yes"}\n'),
    ("feedback", b'{"ts": "2026-04-22T09:00:00Z", "feedback_id": "fb-x", "comment": "caf\xe9 latin-1"}\n'),
    (
        "scenario_results",
        b'{"ts": "2026-04-23T09:00:00Z", "suite": "s", "scenario_id": "long", "error": "'
        + b"x" * LONG_LINE_BYTES
        + b'"}\n',
    ),
    ("incidents", b'{"ts": "2026-05-02T23:59:00Z", "incident_id": "inc-partial", "summ'),
]


@dataclass
class DemoData:
    written: list[str]
    unchanged: list[str]
    lines: int


def stream_bytes(stream: str, lines: int, seed: int, end_day: str) -> bytes:
    counts = synth.split_lines(lines)
    body = "".join(
        line + "\n" for line in synth.stream_lines(stream, counts[stream], seed, end_day, DEFAULT_DAYS)
    )
    bad = b"".join(raw for s, raw in BAD_LINES if s == stream)
    return body.encode("utf-8") + bad


# Illustrative prices (USD per million tokens) for the demo's models, so that its report and compare show
# cost; written only into a root without a data/prices.csv.
DEMO_PRICES = """model,input_usd_per_mtok,output_usd_per_mtok,valid_from
claude-sonnet,3,15,
gpt-4o,2.5,10,
gpt-4o-mini,0.15,0.6,
llama3.1:8b,0.05,0.08,
mistral-nemo:12b,0.15,0.15,
qwen2.5-coder:32b,0.2,0.6,
qwen2.5-coder:7b,0.03,0.09,
"""


def write_demo_streams(
    layout: Layout,
    *,
    lines: int = DEFAULT_LINES,
    seed: int = 7,
    force: bool = False,
    today: str | None = None,
) -> DemoData:
    """Write the demo streams; a stream that already starts with this content is left alone.

    The history ends on the day the demo first ran in this root (``today``, default the UTC date);
    later runs keep that day, so their streams still start with the same content.
    """
    layout.kb.mkdir(parents=True, exist_ok=True)
    end_day = _end_day(layout, lines, seed, today or datetime.now(UTC).date().isoformat())
    written, unchanged = [], []
    for stream in synth.GENERATORS:
        content = stream_bytes(stream, lines, seed, end_day)
        path = layout.stream(stream)
        if path.exists():
            if _starts_with(path, content):  # streams are append-only: replays may have added lines
                unchanged.append(stream)
                continue
            if not force:
                raise UsageError(
                    f"{path} exists and is not this demo's data; use --force to replace it, or another --root"
                )
        with tempfile.NamedTemporaryFile(dir=layout.kb, delete=False) as tmp:
            tmp.write(content)
        Path(tmp.name).replace(path)
        written.append(stream)
    atomic_write(_recorded(layout), json.dumps({"end_day": end_day, "days": DEFAULT_DAYS}).encode())
    if not layout.prices.exists():
        atomic_write(layout.prices, DEMO_PRICES.encode())
    return DemoData(written, unchanged, sum(synth.split_lines(lines).values()))


def _recorded(layout: Layout) -> Path:
    return layout.state_dir / "demo.json"


def _end_day(layout: Layout, lines: int, seed: int, today: str) -> str:
    """The recorded end day; else the one whose content the root's streams already start with; else today."""
    try:
        return str(json.loads(_recorded(layout).read_text(encoding="utf-8"))["end_day"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    probe = layout.stream(next(iter(synth.GENERATORS)))
    for candidate in (today, LEGACY_END_DAY):
        if probe.exists() and _starts_with(probe, stream_bytes(probe.stem, lines, seed, candidate)):
            return candidate
    return today


DEMO_TASKS: list[tuple[str, dict[str, bool]]] = [
    ("stabilise the flaky integration test in payments", {"allow_escalation": True}),
    ("ship a safe database migration that adds an index", {"allow_escalation": True}),
    ("hunt the memory leak in the ingest worker", {}),
    ("rotate the expiring TLS certificates on staging", {"local_only": True}),
    ("draft release notes for version 2.3", {"no_retrieval": True}),
]


def replay_examples(layout: Layout) -> str | None:
    """Replay the demo tasks in dry run (no network); return the mirror's warning, if any."""
    with retrieval.Searcher(layout) as searcher:
        for task, options in DEMO_TASKS:
            request = replay.ReplayRequest(task, dry_run=True, **options)
            replay.run(request, layout, searcher=searcher)
    return pipeline.mirror_runs(layout)


def _starts_with(path: Path, content: bytes) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(content)) == content


def summary(layout: Layout) -> list[tuple[str, list[str], list[tuple]]]:
    """(title, columns, rows) for each demo summary query, read from the catalog."""
    sections = []
    queries = [
        ("demo/evidence_by_kind", "Evidence by kind", None),
        ("demo/quarantine_by_reason", "Quarantined lines", None),
        ("demo/replays", "Dry-run replays", {"tasks": [task for task, _ in DEMO_TASKS]}),
    ]
    with db.catalog(layout.catalog, read_only=True) as con:
        for name, title, params in queries:
            cursor = db.run_sql(con, load(name), params)
            sections.append((title, [d[0] for d in cursor.description], cursor.fetchall()))
    return sections
