"""OTLP requests written by hand (the JSON encoding, hex ids; protobuf made from it by protobuf's own
JSON parser) and a real ``lakehouse otlp serve`` process, for the OpenTelemetry tests."""

from __future__ import annotations

import base64
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support import lakehouse_command

from lakehouse.catalog import analytics
from lakehouse.core.paths import Layout

START_NS = 1_780_000_000_123_456_789  # 2026-05-28T20:26:40.123456789Z


def any_value(value: Any) -> dict[str, Any]:
    """A Python value as an OTLP/JSON AnyValue (integers as strings, as the SDK's exporter writes them)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": attrs(value)}}
    return {"stringValue": str(value)}


def attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in values.items()]


def span(
    trace_id: str,
    span_id: str,
    name: str,
    attributes: dict[str, Any],
    *,
    parent: str | None = None,
    status: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    start_ns: int = START_NS,
    duration_ns: int = 250_000_000,
) -> dict[str, Any]:
    out = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + duration_ns),
        "attributes": attrs(attributes),
        "status": status or {},
    }
    if parent:
        out["parentSpanId"] = parent
    if events:
        out["events"] = [
            {"name": e["name"], "timeUnixNano": str(start_ns), "attributes": attrs(e.get("attributes", {}))}
            for e in events
        ]
    return out


def traces(spans: list[dict[str, Any]], service: str = "test-service") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attrs({"service.name": service})},
                "scopeSpans": [{"scope": {"name": "hand-written", "version": "1"}, "spans": spans}],
            }
        ]
    }


def log_record(
    trace_id: str, span_id: str, event_name: str, body: Any, attributes: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "observedTimeUnixNano": str(START_NS + 1000),
        "traceId": trace_id,
        "spanId": span_id,
        "eventName": event_name,
        "body": any_value(body),
        "attributes": attrs(attributes or {}),
    }


def logs(records: list[dict[str, Any]], service: str = "test-service") -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": attrs({"service.name": service})},
                "scopeLogs": [{"scope": {"name": "hand-written"}, "logRecords": records}],
            }
        ]
    }


def _base64_ids(node: Any) -> Any:
    if isinstance(node, list):
        return [_base64_ids(n) for n in node]
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId")
            else _base64_ids(v)
            for k, v in node.items()
        }
    return node


def protobuf(document: dict[str, Any]) -> bytes:
    """The same request in the protobuf encoding."""
    message = ExportTraceServiceRequest() if "resourceSpans" in document else ExportLogsServiceRequest()
    json_format.ParseDict(_base64_ids(document), message)
    return message.SerializeToString()


def query(root: Path, sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` on a root's catalog, as dicts."""
    table, _ = analytics.run(Layout(root), sql)
    return table.to_pylist()


class ServeProcess:
    """``lakehouse otlp serve`` on a free port, in a process of its own; ``url`` once it listens."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None, port: int = 0) -> None:
        self.proc = subprocess.Popen(
            [*lakehouse_command(), "otlp", "serve", "--root", str(root), "--port", str(port), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._listening = threading.Event()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        if not self._listening.wait(30):
            self.proc.kill()
            raise RuntimeError(f"otlp serve did not start: {self.lines}")
        line = next(line for line in self.lines if line.startswith("listening on "))
        self.url = line.split()[2]
        self.port = int(self.url.rsplit(":", 1)[1])

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("listening on "):
                self._listening.set()
        self._listening.set()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager stops it; its exit code once it has finished (and said so)."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)
        self._close()

    def _close(self) -> None:
        self._drainer.join(10)  # it has read every line once the pipe is at its end
        if self.proc.stderr:
            self.proc.stderr.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
