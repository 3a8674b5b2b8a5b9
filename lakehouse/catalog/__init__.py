"""The catalog (``data/lakehouse.duckdb``) and SQL over it (PRODUCT.md §6).

- ``mirror``: the evidence view, the mirrored logs (runs, receipts, quarantine), ``sync``, repair, ``rebuild``;
- ``analytics``: named queries (``sql/queries``), ad-hoc SQL (:func:`analytics.query`) and ``stats``;
- ``statements``: what read-only SQL lets through, as DuckDB's parser classifies each statement;
- ``results``: query results converted for every output format by DuckDB's own casts;
- ``compare``: two labels' runs paired; ``captured``: the traced calls a replay --of spans selects;
- ``prices``: data/prices.csv and the catalog's ``prices`` table that gives calls their ``cost_usd``.

Uses ingest (evidence parts) and retrieval (the index and vectors a repair restores); nothing above.
"""

from lakehouse.catalog.mirror import (
    MIRROR_SCHEMA_VERSION,
    SyncReport,
    behind_flag,
    is_behind,
    mirror_after_write,
    rebuild,
    runs_before,
    sync,
)

__all__ = [
    "MIRROR_SCHEMA_VERSION",
    "SyncReport",
    "behind_flag",
    "is_behind",
    "mirror_after_write",
    "rebuild",
    "runs_before",
    "sync",
]
