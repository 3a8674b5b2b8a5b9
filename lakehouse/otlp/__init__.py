"""OpenTelemetry traces in (PRODUCT.md §11): what instrumented agents export, as lines of two streams.

- ``decode``: OTLP/HTTP bodies (media types, gzip within a size limit) into export requests, protobuf
  and OTLP/JSON both parsed by ``opentelemetry-proto``; every refusal an ``OtlpRequestError`` with its
  HTTP status;
- ``flatten``: a span (or a GenAI event log record) as one JSON object, ids in hex, values as plain JSON;
- ``store``: durable appends to ``data/_kb/otel_spans.jsonl`` and ``otel_logs.jsonl`` (group commit,
  fsync, a torn last line cut off);
- ``server``: the receiver behind ``lakehouse otlp serve``; ``refresh``: its background materialize;
- ``importer``: ``lakehouse otlp import`` of OTLP JSON files.

The streams become evidence through the built-in transforms ``13_otel_spans`` and ``14_otel_logs``;
the catalog's ``spans`` and ``llm_spans`` views read them (``sql/otel/conventions.sql``).
"""

from lakehouse.otlp.decode import DEFAULT_MAX_BODY_BYTES
from lakehouse.otlp.importer import ImportReport, import_files
from lakehouse.otlp.server import Receiver

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ImportReport", "Receiver", "import_files"]
