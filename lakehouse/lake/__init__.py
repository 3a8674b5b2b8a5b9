"""The lake (opt-in): DuckLake with a PostgreSQL catalog and data files on S3-API object storage,
which many roots (hosts) publish into and analysts read.

- ``config``: a root's membership, ``data/lake.json`` (no secrets);
- ``publish``: attaching the lake beside the catalog, :func:`push` (exactly once by key, from many
  hosts at once), :func:`status`, :func:`reading` (a read-only session on the lake).

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

__all__ = [
    "TABLES",
    "LakeConfig",
    "LakeUnreachableError",
    "PushReport",
    "attach",
    "create_tables",
    "load",
    "push",
    "reading",
    "require",
    "save",
    "status",
]
