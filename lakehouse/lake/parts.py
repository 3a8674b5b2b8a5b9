"""Evidence parts for the lake: Parquet files written by pyarrow to the lake's object storage, one per
day of a push, then registered in the lake with ``ducklake_add_data_files``; for a push of more than
:data:`INLINE_ROWS` evidence rows (fewer are appended into the lake's catalog: no file at all).

A part's name is a hash of the publishing host and the evidence ids it holds, so a push retried after
a conflict or a crash rewrites the same object instead of leaving another behind; two hosts never
write the same name (their rows differ in ``receipt_id`` and ``source``). A part whose registering
transaction did not commit is referenced by nothing, and ``lakehouse prune --lake`` removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from lakehouse.core import failpoints
from lakehouse.core.errors import CatalogError, StorageError
from lakehouse.core.sqlfiles import load, render
from lakehouse.lake.config import LakeConfig

ROW_GROUP_ROWS = 256 * 1024  # a day's part in few row groups, none of them tiny (PRODUCT.md §3.3)
# A push's rows up to this many a table are appended into the lake's catalog (DuckLake's data inlining)
# instead of a file: no object written, nothing to merge; maintenance flushes them to files.
INLINE_ROWS = 100


def filesystem(config: LakeConfig) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem for the lake's data path, and that path as the filesystem names it."""
    if not config.data.startswith("s3://"):
        return pafs.LocalFileSystem(), config.data_path
    options: dict[str, object] = {"force_virtual_addressing": config.s3_url_style == "vhost"}
    if config.endpoint:
        host, tls = config.endpoint
        options.update(endpoint_override=host, scheme="https" if tls else "http")
    if config.region:
        options["region"] = config.region
    if os.environ.get("AWS_ACCESS_KEY_ID"):  # else the AWS SDK's default chain (config files, roles)
        options["access_key"] = os.environ["AWS_ACCESS_KEY_ID"]
        options["secret_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        options["session_token"] = os.environ.get("AWS_SESSION_TOKEN")
    try:
        return pafs.S3FileSystem(**options), config.data_path.removeprefix("s3://")
    except (pa.ArrowException, OSError) as exc:
        raise StorageError(f"cannot reach the lake's object storage: {exc}") from exc


def publish_evidence(con: duckdb.DuckDBPyConnection, config: LakeConfig, host: str, pending: str) -> int:
    """Inside the push's lake transaction: the evidence staged in the temporary table ``pending``,
    written as one part a day and registered. Returns the number of rows published."""
    days = [day for (day,) in con.execute(render(load("lake/pending_days"), pending=pending)).fetchall()]
    published = 0
    if days:
        json_columns = _matching_columns(con, pending)
        fs, base = filesystem(config)
        day_sql = render(load("lake/pending_day"), pending=pending)
        for day in days:
            reader = con.execute(day_sql, [day]).to_arrow_reader(ROW_GROUP_ROWS)
            table = _as_lake_types(reader.read_all(), json_columns)
            relative = f"evidence/day={day}/{_part_name(host, table)}.parquet"
            _write(fs, base, relative, table)
            failpoints.hit("lake_part_written")
            con.execute(
                "CALL ducklake_add_data_files('lake', 'evidence_appended', ?)",
                [f"{config.data_path}{relative}"],
            )
            published += table.num_rows
    return published


def _matching_columns(con: duckdb.DuckDBPyConnection, pending: str) -> set[str]:
    """The lake's JSON columns, once the lake's evidence columns are checked to be this root's (before
    anything is written: ``ducklake_add_data_files`` would refuse the part only after its upload)."""
    lake_columns = con.execute(render(load("lake/columns"), table="lake.evidence_appended")).fetchall()
    mine = con.execute(render(load("lake/columns"), table=pending)).fetchall()
    if [name for name, _ in lake_columns] != [name for name, _ in mine]:
        raise CatalogError(
            "the lake's evidence columns differ from this root's "
            f"({', '.join(n for n, _ in lake_columns)} against {', '.join(n for n, _ in mine)}): "
            "every host must run the same lakehouse version"
        )
    # A part must carry Parquet's JSON type where the lake says JSON, or DuckLake refuses it.
    return {name for name, kind in lake_columns if kind == "JSON"}


def _as_lake_types(table: pa.Table, json_columns: set[str]) -> pa.Table:
    for name in json_columns:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, pa.field(name, pa.json_()), table.column(index).cast(pa.json_()))
    return table


def _write(fs: pafs.FileSystem, base: str, relative: str, table: pa.Table) -> None:
    """One part; on a local path through a temporary name (a part another push already registered is
    never seen half-rewritten), on S3 directly (an object appears whole)."""
    target = f"{base}{relative}"
    temporary = f"{target}.{os.getpid()}.tmp"
    local = isinstance(fs, pafs.LocalFileSystem)
    try:
        if local:  # on S3 a directory would be a "marker" object
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            pq.write_table(table, temporary, filesystem=fs, row_group_size=ROW_GROUP_ROWS)
            fs.move(temporary, target)
        else:
            pq.write_table(table, target, filesystem=fs, row_group_size=ROW_GROUP_ROWS)
    except (pa.ArrowException, OSError) as exc:
        if local:  # a failed part leaves nothing behind (a full disk stays no fuller)
            with contextlib.suppress(pa.ArrowException, OSError):
                fs.delete_file(temporary)
        amount = f"{table.num_rows:,} evidence records, {table.nbytes / 2**20:.1f} MiB"
        raise StorageError(
            f"cannot write an evidence part to the lake ({relative}, {amount}): {exc}"
        ) from exc


def _part_name(host: str, table: pa.Table) -> str:
    digest = hashlib.sha256(host.encode("utf-8"))
    for evidence_id in table.column("evidence_id").to_pylist():
        digest.update(evidence_id.encode("ascii"))
    return digest.hexdigest()[:32]
