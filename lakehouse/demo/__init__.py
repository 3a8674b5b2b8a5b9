"""The demo a newcomer runs first, and the synthetic logs of all twelve streams behind it.

``examples`` (the demo's streams, its dry-run replays and its SQL summary), ``synth`` (realistic
synthetic streams, also used by the benchmarks). Sits above the pipeline it drives.
"""

from lakehouse.demo.examples import (
    COMPARED_LABELS,
    DEFAULT_LINES,
    DEMO_TASKS,
    DemoData,
    replay_examples,
    stream_bytes,
    summary,
    write_demo_streams,
)

__all__ = [
    "COMPARED_LABELS",
    "DEFAULT_LINES",
    "DEMO_TASKS",
    "DemoData",
    "replay_examples",
    "stream_bytes",
    "summary",
    "write_demo_streams",
]
