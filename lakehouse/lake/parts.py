"""Evidence parts for the lake: Parquet files written by pyarrow to the lake's object storage, one per
day of a push, then registered in the lake with ``ducklake_add_data_files``.

A part's name is a hash of the publishing host and the evidence ids it holds, so a push retried after
a conflict or a crash rewrites the same object instead of leaving another behind; two hosts never
write the same name (their rows differ in ``receipt_id`` and ``source``). A part whose registering
transaction did not commit is referenced by nothing, and ``lakehouse prune --lake`` removes it.
"""

from __future__ import annotations

import hashlib
import os
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lakehouse.core import failpoints
from lakehouse.core.errors import StorageError
from lakehouse.core.sqlfiles import load
from lakehouse.lake.config import LakeConfig

ROW_GROUP_ROWS = 256 * 1024  # a day's part in few row groups, none of them tiny (PRODUCT.md §3.3)


def filesystem(config: LakeConfig) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem for the lake's data path, and that path as the filesystem names it."""
    if not config.data.startswith("s3://"):
        return pafs.LocalFileSystem(), config.data_path
    options: dict[str, object] = {}
    if config.s3_endpoint:
        endpoint = urlparse(
            config.s3_endpoint if "://" in config.s3_endpoint else f"https://{config.s3_endpoint}"
        )
        options["endpoint_override"] = endpoint.netloc
        options["scheme"] = endpoint.scheme
    region = config.s3_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    if config.s3_url_style == "vhost":
        options["force_virtual_addressing"] = True
    if os.environ.get("AWS_ACCESS_KEY_ID"):  # else the AWS SDK's default chain (config files, roles)
        options["access_key"] = os.environ["AWS_ACCESS_KEY_ID"]
        options["secret_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        options["session_token"] = os.environ.get("AWS_SESSION_TOKEN")
    try:
        return pafs.S3FileSystem(**options), config.data_path.removeprefix("s3://")
    except (pa.ArrowException, OSError) as exc:
        raise StorageError(f"cannot reach the lake's object storage: {exc}") from exc


def publish_evidence(con: duckdb.DuckDBPyConnection, config: LakeConfig, host: str) -> int:
    """Inside the push's lake transaction: the evidence the lake lacks, written as one part a day and
    registered. Returns the number of rows published."""
    con.execute(load("lake/pending_evidence"))
    days = [
        day for (day,) in con.execute("SELECT DISTINCT day FROM pending_evidence ORDER BY day").fetchall()
    ]
    fs, base = filesystem(config)
    json_columns = _json_columns(con)
    published = 0
    for day in days:
        table = _as_lake_types(
            con.execute("SELECT * FROM pending_evidence WHERE day = ? ORDER BY evidence_id", [day]).arrow(),
            json_columns,
        )
        name = _part_name(host, table)
        relative = f"evidence/day={day}/{name}.parquet"
        try:
            if isinstance(fs, pafs.LocalFileSystem):  # on S3 that would leave "directory" marker objects
                fs.create_dir(f"{base}evidence/day={day}", recursive=True)
            pq.write_table(table, f"{base}{relative}", filesystem=fs, row_group_size=ROW_GROUP_ROWS)
        except (pa.ArrowException, OSError) as exc:
            raise StorageError(f"cannot write an evidence part to the lake ({relative}): {exc}") from exc
        failpoints.hit("lake_part_written")
        con.execute("CALL ducklake_add_data_files('lake', 'evidence', ?)", [f"{config.data_path}{relative}"])
        published += table.num_rows
    con.execute("DROP TABLE pending_evidence")
    return published


def _json_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The lake's JSON columns: a part must carry Parquet's JSON type there, or DuckLake refuses it."""
    rows = con.execute(
        "SELECT column_name FROM (DESCRIBE lake.evidence) WHERE column_type = 'JSON'"
    ).fetchall()
    return {name for (name,) in rows}


def _as_lake_types(data: pa.Table | pa.RecordBatchReader, json_columns: set[str]) -> pa.Table:
    table = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
    for name in json_columns:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, pa.field(name, pa.json_()), table.column(index).cast(pa.json_()))
    return table


def _part_name(host: str, table: pa.Table) -> str:
    digest = hashlib.sha256(host.encode("utf-8"))
    for evidence_id in table.column("evidence_id").to_pylist():
        digest.update(evidence_id.encode("ascii"))
    return digest.hexdigest()[:32]
