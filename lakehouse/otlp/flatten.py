"""OTLP messages (decoded by ``opentelemetry-proto``) flattened into one JSON object per span or log record.

A flattened span is what ``data/_kb/otel_spans.jsonl`` holds, one a line (README, "OpenTelemetry"):
``trace_id``, ``span_id``, ``parent_span_id`` as lower-case hex; ``start_time``/``end_time`` as RFC 3339
with nanoseconds (UTC) and ``duration_ns``; ``kind`` and ``status.code`` by name; attribute values as
plain JSON (a string, a number, a boolean, a list, an object; bytes as base64); ``events`` and
``links`` kept whole; the ``resource`` and ``scope`` it came under. Nothing of the span is dropped:
zero counts and empty fields are left out because they are the protocol's defaults.

A GenAI event log record (``event_name`` or the ``event.name`` attribute starting with ``gen_ai.``)
flattens the same way into ``data/_kb/otel_logs.jsonl``, with a ``record_id`` hashed from its content
(a record sent twice is one record). Other log records are not kept: they are counted as rejected.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
GENAI_EVENT_PREFIX = "gen_ai."


@dataclass
class Flattened:
    """What one request held: flattened spans or log records, and what was rejected and why."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def message(self) -> str:
        """The partial-success message: why records were rejected (empty when none was)."""
        return "; ".join(self.reasons)


def rfc3339_nanos(unix_nano: int) -> str:
    """``2026-05-01T10:00:00.123456789Z`` (always nine fractional digits)."""
    seconds, nanos = divmod(unix_nano, 1_000_000_000)
    return f"{_second(seconds)}.{nanos:09d}Z"


@functools.lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    """The formatted second: a batch's spans share a few (formatting them was 13 % of a request's CPU)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def value(any_value: AnyValue) -> Any:
    """An OTLP ``AnyValue`` as plain JSON."""
    kind = any_value.WhichOneof("value")
    if kind == "string_value":
        return any_value.string_value
    if kind == "int_value":
        return any_value.int_value
    if kind == "double_value":
        number = any_value.double_value
        return number if number == number and abs(number) != float("inf") else str(number)
    if kind == "bool_value":
        return any_value.bool_value
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(any_value.bytes_value).decode("ascii")
    return None


def attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in key_values}


def _scope(scope: InstrumentationScope, schema_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": scope.name}
    if scope.version:
        out["version"] = scope.version
    if scope.attributes:
        out["attributes"] = attributes(scope.attributes)
    if schema_url:
        out["schema_url"] = schema_url
    return out


def _resource(resource: Any, schema_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": attributes(resource.attributes)}
    if schema_url:
        out["schema_url"] = schema_url
    return out


def _optional(out: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Adds the values that differ from the protocol's default (0, empty)."""
    out.update({key: v for key, v in values.items() if v})
    return out


def span_record(span: Span, resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    record: dict[str, Any] = {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex() or None,
        "name": span.name,
        "kind": SPAN_KINDS.get(span.kind, str(span.kind)),
        "start_time": rfc3339_nanos(start),
        "end_time": rfc3339_nanos(end) if end else None,
        "duration_ns": end - start if end >= start else None,
        "status": _status(span.status),
        "attributes": attributes(span.attributes),
        "events": [
            _optional(
                {
                    "name": e.name,
                    "time": rfc3339_nanos(e.time_unix_nano),
                    "attributes": attributes(e.attributes),
                },
                dropped_attributes_count=e.dropped_attributes_count,
            )
            for e in span.events
        ],
        "links": [
            _optional(
                {
                    "trace_id": link.trace_id.hex(),
                    "span_id": link.span_id.hex(),
                    "attributes": attributes(link.attributes),
                },
                trace_state=link.trace_state,
                flags=link.flags,
                dropped_attributes_count=link.dropped_attributes_count,
            )
            for link in span.links
        ],
        "resource": resource,
        "scope": scope,
    }
    return _optional(
        record,
        trace_state=span.trace_state,
        flags=span.flags,
        dropped_attributes_count=span.dropped_attributes_count,
        dropped_events_count=span.dropped_events_count,
        dropped_links_count=span.dropped_links_count,
    )


def _status(status: Status) -> dict[str, Any]:
    out: dict[str, Any] = {"code": STATUS_CODES.get(status.code, str(status.code))}
    if status.message:
        out["message"] = status.message
    return out


def _span_problem(span: Span) -> str | None:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return "a span without a valid 16-byte trace_id"
    if len(span.span_id) != 8 or not any(span.span_id):
        return "a span without a valid 8-byte span_id"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return "a span whose parent_span_id is not 8 bytes"
    if not span.start_time_unix_nano:
        return "a span without start_time_unix_nano"
    return None


def _scoped(
    resources: Any, scopes_field: str, items_field: str
) -> Iterator[tuple[dict[str, Any], dict[str, Any], Any]]:
    """``(resource, scope, item)`` for every span or log record of a request, the resource and scope
    flattened once for all their items."""
    for resource_items in resources:
        resource = _resource(resource_items.resource, resource_items.schema_url)
        for scope_items in getattr(resource_items, scopes_field):
            scope = _scope(scope_items.scope, scope_items.schema_url)
            for item in getattr(scope_items, items_field):
                yield resource, scope, item


def spans(request: ExportTraceServiceRequest) -> Flattened:
    """Every span of a trace export request, flattened; spans that cannot be identified or timed are rejected."""
    out = Flattened()
    for resource, scope, span in _scoped(request.resource_spans, "scope_spans", "spans"):
        problem = _span_problem(span)
        if problem:
            out.reject(problem)
        else:
            out.records.append(span_record(span, resource, scope))
    return out


def event_name(record: Any) -> str:
    if record.event_name:
        return str(record.event_name)
    for kv in record.attributes:
        if kv.key == "event.name":
            return str(value(kv.value))
    return ""


def log_record(record: Any, resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    moment = record.time_unix_nano or record.observed_time_unix_nano
    flat: dict[str, Any] = {
        "event_name": event_name(record),
        "time": rfc3339_nanos(moment),
        "trace_id": record.trace_id.hex() or None,
        "span_id": record.span_id.hex() or None,
        "body": value(record.body) if record.HasField("body") else None,
        "attributes": attributes(record.attributes),
        "resource": resource,
        "scope": scope,
    }
    _optional(
        flat,
        observed_time=rfc3339_nanos(record.observed_time_unix_nano)
        if record.observed_time_unix_nano
        else None,
        severity_number=record.severity_number,
        severity_text=record.severity_text,
        flags=record.flags,
        dropped_attributes_count=record.dropped_attributes_count,
    )
    content = json.dumps(flat, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {"record_id": "log:" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:32], **flat}


def logs(request: ExportLogsServiceRequest) -> Flattened:
    """The GenAI event records of a logs export request, flattened; other records are rejected."""
    out = Flattened()
    for resource, scope, record in _scoped(request.resource_logs, "scope_logs", "log_records"):
        if not event_name(record).startswith(GENAI_EVENT_PREFIX):
            out.reject("log records that are not GenAI events (event name gen_ai.*) are not kept")
        elif not (record.time_unix_nano or record.observed_time_unix_nano):
            out.reject("a log record without time_unix_nano or observed_time_unix_nano")
        else:
            out.records.append(log_record(record, resource, scope))
    return out
