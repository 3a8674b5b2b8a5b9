"""Replay (PRODUCT.md §4): the Go port of ``Replay``, kept exactly, one task or many.

``prompt`` (system and user prompt, the dry-run answer), ``validate`` (a run's verdict; the gates are :mod:`lakehouse.gates`), ``runner``
(one run: :func:`run`, its ``replay_run.v1`` line), ``batch`` (many tasks concurrently through a
shared :class:`batch.Session`). Uses retrieval and the gateway; mirroring the log into the catalog
is :func:`lakehouse.pipeline.mirror_runs`.
"""

from lakehouse.replay.runner import (
    DEFAULT_K,
    LOG_RESPONSE_CHARS,
    MAX_K,
    NOT_OPTIONS,
    SCHEMA,
    ReplayRequest,
    build_bundle,
    dry_run_caller,
    embedder_for,
    log,
    run,
)

__all__ = [
    "DEFAULT_K",
    "LOG_RESPONSE_CHARS",
    "MAX_K",
    "NOT_OPTIONS",
    "SCHEMA",
    "ReplayRequest",
    "build_bundle",
    "dry_run_caller",
    "embedder_for",
    "log",
    "run",
]
