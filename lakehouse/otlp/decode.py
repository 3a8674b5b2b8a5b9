"""OTLP/HTTP bodies in, decoded requests out: media types, gzip with a size limit, protobuf and JSON.

Protobuf is parsed by ``opentelemetry-proto``. OTLP/JSON is protobuf's JSON mapping with one
difference, hex trace and span ids instead of base64: the ids are turned into base64 and the rest
is parsed by protobuf's own ``json_format``, so both encodings take the same path from there on.
Everything that cannot be taken raises :class:`OtlpRequestError` with the HTTP status to answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from lakehouse.core.errors import OtlpRequestError
from lakehouse.otlp import flatten

Signal = Literal["traces", "logs"]
Media = Literal["protobuf", "json"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024

_REQUESTS: dict[str, type[Message]] = {"traces": ExportTraceServiceRequest, "logs": ExportLogsServiceRequest}
# JSON keys holding ids, at each level, in both spellings protobuf's JSON parser accepts.
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def media_type(content_type: str | None) -> Media:
    """``protobuf`` or ``json`` from a Content-Type header (parameters such as charset ignored)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == PROTOBUF:
        return "protobuf"
    if kind == JSON:
        return "json"
    raise OtlpRequestError(415, f"unsupported media type {kind or '(none)'!r}: send {PROTOBUF} or {JSON}")


def inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone, never more than ``limit`` bytes (a gzip bomb is a 413)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding != "gzip":
        raise OtlpRequestError(415, f"unsupported Content-Encoding {encoding!r}: send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpRequestError(400, f"the body is not valid gzip ({exc})") from exc
    if len(data) > limit:
        raise OtlpRequestError(413, f"the body is larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise OtlpRequestError(400, "the gzip body is truncated")
    return data


def parse(signal: Signal, body: bytes, media: Media) -> Message:
    """The export request a body holds."""
    request = _REQUESTS[signal]()
    if media == "protobuf":
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise OtlpRequestError(400, f"the body is not an OTLP {signal} protobuf message ({exc})") from exc
        return request
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OtlpRequestError(400, f"the body is not JSON ({_short(exc)})") from exc
    return from_json(signal, document)


def from_json(signal: Signal, document: Any) -> Message:
    """An OTLP/JSON document (hex ids) as the request message; raises a 400 when it is not one."""
    if not isinstance(document, dict):
        raise OtlpRequestError(
            400, f"an OTLP/JSON {signal} request is an object, not {type(document).__name__}"
        )
    request = _REQUESTS[signal]()
    try:
        json_format.ParseDict(_ids_to_base64(document), request, ignore_unknown_fields=True)
        request.ByteSize()  # protobuf's own checks (nesting depth) now, not when the request is flattened
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise OtlpRequestError(400, f"not an OTLP/JSON {signal} request: {_short(exc)}") from exc
    return request


def signal_of(document: Any) -> Signal | None:
    """Which export request an OTLP/JSON document is (files hold both kinds), or None."""
    if isinstance(document, dict):
        if "resourceSpans" in document or "resource_spans" in document:
            return "traces"
        if "resourceLogs" in document or "resource_logs" in document:
            return "logs"
    return None


def flattened(signal: Signal, request: Message) -> flatten.Flattened:
    if signal == "traces":
        return flatten.spans(request)  # type: ignore[arg-type]
    return flatten.logs(request)  # type: ignore[arg-type]


def response(signal: Signal, result: flatten.Flattened, media: Media) -> bytes:
    """The OTLP response message: empty, or a partial success naming what was rejected and why."""
    message: Message
    if signal == "traces":
        message = ExportTraceServiceResponse()
        if result.rejected:
            message.partial_success.rejected_spans = result.rejected
            message.partial_success.error_message = result.message
    else:
        message = ExportLogsServiceResponse()
        if result.rejected:
            message.partial_success.rejected_log_records = result.rejected
            message.partial_success.error_message = result.message
    if media == "protobuf":
        return message.SerializeToString()
    return json.dumps(json_format.MessageToDict(message)).encode()


def _ids_to_base64(node: Any) -> Any:
    """A copy of the document with every hex id field as base64 (what protobuf's JSON parser reads)."""
    if isinstance(node, list):
        return [_ids_to_base64(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, item in node.items():
        if key in _ID_KEYS and isinstance(item, str):
            out[key] = _id_as_base64(item)
        elif key in ("attributes", "body"):
            out[key] = item  # values, never ids: left as they are
        else:
            out[key] = _ids_to_base64(item)
    if "instrumentationLibrarySpans" in out and "scopeSpans" not in out:  # OTLP before 0.15
        out["scopeSpans"] = [
            {**s, "scope": s.get("instrumentationLibrary", {})}
            for s in out.pop("instrumentationLibrarySpans")
        ]
        for scope_spans in out["scopeSpans"]:
            scope_spans.pop("instrumentationLibrary", None)
    return out


def _id_as_base64(text: str) -> str:
    """OTLP/JSON ids are hex; an id that is valid base64 of the right size but not hex is taken as base64."""
    try:
        return base64.b64encode(bytes.fromhex(text)).decode("ascii")
    except ValueError:
        try:
            base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise OtlpRequestError(400, f"id {text[:40]!r} is neither hex nor base64") from exc
        return text


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
