"""The project's exception hierarchy, in one place.

Every error a user can see is a ``LakehouseError``; its ``exit_code`` is what the CLI
returns (PRODUCT.md §4: 2 for usage errors, 4 for infrastructure failures).
Errors from duckdb, pyarrow and the OS are wrapped into these where they enter the
library (``raise ... from exc``).
"""

from __future__ import annotations

EXIT_USAGE = 2
EXIT_INFRASTRUCTURE = 4


class LakehouseError(Exception):
    """Base of every error lakehouse raises on purpose."""

    exit_code: int = EXIT_INFRASTRUCTURE


class UsageError(LakehouseError):
    """The user asked for something that cannot be done as asked (bad name, bad option)."""

    exit_code = EXIT_USAGE


class TransformError(UsageError):
    """A transform definition is malformed (bad header, bad SQL, missing columns)."""


class GateError(UsageError):
    """A gate file is malformed (no purpose header, bad SQL, no ``reason`` column, no judge model)."""


class RootError(LakehouseError):
    """The root directory is missing, not a directory, or not writable."""


class LockBusyError(LakehouseError):
    """Another process holds the lock this operation needs."""


class StorageError(LakehouseError):
    """Reading or writing the files under ``data/`` failed."""


class CatalogError(LakehouseError):
    """The DuckDB catalog could not be opened, read or written."""


class CatalogDamagedError(CatalogError):
    """The catalog file cannot be opened or read as a database (``lakehouse sync`` moves it aside and
    rebuilds it from the files)."""


class CatalogLockedError(CatalogError):
    """Another process holds the catalog file; the JSONL is written, the mirror is behind."""


class EmbeddingError(LakehouseError):
    """The gateway's ``/v1/embeddings`` call failed or returned something that is not embeddings."""


class OtlpRequestError(UsageError):
    """An OTLP request the receiver cannot take (bad media type, body too large, undecodable);
    ``status`` is the HTTP status it answers with. Nothing of such a request is written."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
