"""The lake (opt-in): DuckLake with a PostgreSQL catalog and data files on S3-API object storage,
which many roots (hosts) publish into and analysts read.

- ``config``: a root's membership, ``data/lake.json`` (no secrets);
- ``schema``: the lake's tables (``<table>_appended``, which hosts append to without a lock) and the
  views of one row a key analysts read;
- ``publish``: attaching the lake beside the catalog, :func:`push` (exactly once by key for analysts,
  from many hosts at once), :func:`status`, :func:`reading` (a read-only session on the lake);
- ``record``: a root's record of what it published (``data/_state/lake_published.duckdb``), which a push
  finds its new rows in instead of reading the lake's keys;
- ``transact``: :func:`in_turn` (a lake transaction retried on conflict), :class:`LakeUnreachableError`;
- ``maintain``: :func:`maintain` (hidden rows deleted, small files merged, old snapshots expired);
- ``parts``: evidence as Parquet parts written by pyarrow and registered with ``ducklake_add_data_files``;
- ``retention``: :func:`prune` (rows before a day deleted, snapshots expired, files cleaned up).

Uses core (the rows it publishes are read from the catalog file through it); nothing above.
"""

from lakehouse.lake.config import LakeConfig, load, require, save
from lakehouse.lake.maintain import FILE_GRACE, KEEP_SNAPSHOTS, MaintainReport, maintain
from lakehouse.lake.publish import PUSH, KeptLake, PushReport, attach, create_tables, push, reading, status
from lakehouse.lake.retention import LakePruneReport, count_before, prune
from lakehouse.lake.schema import TABLES, LakeTable
from lakehouse.lake.transact import LakeUnreachableError

__all__ = [
    "FILE_GRACE",
    "KEEP_SNAPSHOTS",
    "PUSH",
    "TABLES",
    "KeptLake",
    "LakeConfig",
    "LakePruneReport",
    "LakeTable",
    "LakeUnreachableError",
    "MaintainReport",
    "PushReport",
    "attach",
    "count_before",
    "create_tables",
    "load",
    "maintain",
    "prune",
    "push",
    "reading",
    "require",
    "save",
    "status",
]
