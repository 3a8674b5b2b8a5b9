"""The lake (opt-in): DuckLake with a PostgreSQL catalog and data files on S3-API object storage,
which many roots (hosts) publish into and analysts read.

- ``config``: a root's membership, ``data/lake.json`` (no secrets);
- ``publish``: attaching the lake beside the catalog, :func:`push` (exactly once by key, from many
  hosts at once), :func:`status`, :func:`reading` (a read-only session on the lake);
- ``parts``: evidence as Parquet parts written by pyarrow and registered with ``ducklake_add_data_files``;
- ``retention``: :func:`prune` (rows before a day deleted, snapshots expired, files cleaned up).

Uses core (the rows it publishes are read from the catalog file through it); nothing above.
"""

from lakehouse.lake.config import LakeConfig, load, require, save
from lakehouse.lake.publish import (
    TABLES,
    LakeUnreachableError,
    PushReport,
    attach,
    create_tables,
    push,
    reading,
    status,
)
from lakehouse.lake.retention import LakePruneReport, count_before, prune

__all__ = [
    "TABLES",
    "LakeConfig",
    "LakePruneReport",
    "LakeUnreachableError",
    "PushReport",
    "attach",
    "count_before",
    "create_tables",
    "load",
    "prune",
    "push",
    "reading",
    "require",
    "save",
    "status",
]
