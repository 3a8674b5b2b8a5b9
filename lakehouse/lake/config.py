"""A root's membership of a lake: ``data/lake.json`` (no secrets in it).

S3 keys come from the standard AWS environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``) or DuckDB's credential chain (AWS
config files); the PostgreSQL password from ``PGPASSWORD`` or ``~/.pgpass``, as libpq reads them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from lakehouse.core.errors import UsageError
from lakehouse.core.files import atomic_write
from lakehouse.core.paths import Layout

URL_STYLES = ("path", "vhost")


@dataclass(frozen=True)
class LakeConfig:
    catalog: str  # the DuckLake catalog, e.g. "postgres:dbname=lake host=db port=5432 user=lake"
    data: str  # where data files go, e.g. "s3://bucket/prefix/"
    s3_endpoint: str | None = None  # an S3-API server other than AWS ("host:port" or a URL)
    s3_url_style: str = "vhost"
    s3_region: str | None = None

    def check(self) -> LakeConfig:
        if not self.catalog.startswith("postgres:"):
            raise UsageError(
                f"--catalog {self.catalog!r}: a lake's catalog is 'postgres:<libpq connection string>'"
            )
        if re.search(r"\bpassword\s*=", self.catalog):
            raise UsageError("--catalog must not hold a password: set PGPASSWORD or use ~/.pgpass")
        if not (self.data.startswith("s3://") or self.data.startswith("/")):
            raise UsageError(
                f"--data {self.data!r}: an s3:// URL (or an absolute local path, for trying it out)"
            )
        if self.s3_url_style not in URL_STYLES:
            raise UsageError(f"--s3-url-style {self.s3_url_style!r}: choose one of {', '.join(URL_STYLES)}")
        return self

    @property
    def data_path(self) -> str:
        return self.data if self.data.endswith("/") else f"{self.data}/"

    @property
    def endpoint(self) -> tuple[str, bool] | None:
        """The S3-API server other than AWS as (host:port, TLS?); a bare host:port means TLS."""
        if not self.s3_endpoint:
            return None
        scheme, _, rest = self.s3_endpoint.rpartition("://")
        return rest.rstrip("/"), scheme != "http"

    @property
    def region(self) -> str | None:
        return self.s3_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def path(layout: Layout) -> Path:
    return layout.lake_config


def load(layout: Layout) -> LakeConfig | None:
    """The root's lake (None when it has not joined one)."""
    try:
        raw = json.loads(path(layout).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read {path(layout)}: {exc}") from exc
    try:
        return LakeConfig(**raw).check()
    except TypeError as exc:
        raise UsageError(f"{path(layout)} is not a lake configuration: {exc}") from exc


def require(layout: Layout) -> LakeConfig:
    config = load(layout)
    if config is None:
        raise UsageError(f"this root has not joined a lake: run 'lakehouse lake init' (no {path(layout)})")
    return config


def save(layout: Layout, config: LakeConfig) -> None:
    atomic_write(path(layout), (json.dumps(asdict(config), indent=2) + "\n").encode("utf-8"))
