"""The OTLP benchmark's requests: ExportTraceServiceRequest bodies of GenAI spans (bench/otlp.py).

A template is one request of 512 spans whose ids all start with MARK; ``numbered`` makes each request's
ids unique by replacing MARK, so exporters send fresh spans without encoding protobuf in the loop.
"""

from __future__ import annotations

import json
import struct
from typing import Any

BATCH_SPANS = 512
SPANS_PER_TRACE = 8
MARK = b"\xfe\xed\xfa\xce"  # the first 4 bytes of every id in a template; never valid UTF-8, so never in text
TEMPLATES = 4  # different contents and days; each request is one of them with its ids renumbered
DAY0_NS = 1_777_593_600 * 10**9  # 2026-05-01T00:00:00Z
WORDS = [
    "the",
    "agent",
    "reads",
    "the",
    "ticket",
    "calls",
    "the",
    "search",
    "tool",
    "drafts",
    "a",
    "reply",
    "cites",
    "the",
    "refund",
    "playbook",
    "checks",
    "the",
    "order",
    "status",
    "asks",
    "for",
    "the",
    "invoice",
    "number",
    "escalates",
    "to",
    "a",
    "human",
    "when",
    "policy",
    "is",
    "unclear",
    "and",
    "summarises",
    "what",
    "was",
    "done",
    "for",
    "the",
    "customer",
    "in",
    "plain",
    "words",
]
MODELS = ["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4", "qwen2.5-7b-instruct"]


# --- the requests --------------------------------------------------------------------------------


def template(index: int, spans: int = BATCH_SPANS) -> bytes:
    """One ExportTraceServiceRequest of ``spans`` GenAI spans, every id starting with MARK."""
    import random

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    rng = random.Random(index)

    def kv(key: str, v: Any) -> KeyValue:
        a = AnyValue()
        if isinstance(v, bool):
            a.bool_value = v
        elif isinstance(v, int):
            a.int_value = v
        elif isinstance(v, float):
            a.double_value = v
        elif isinstance(v, list):
            a.array_value.values.extend(AnyValue(string_value=item) for item in v)
        else:
            a.string_value = v
        return KeyValue(key=key, value=a)

    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words))

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [
            kv("service.name", f"support-agent-{index % 3}"),
            kv("service.version", "1.4.2"),
            kv("deployment.environment", "prod"),
            kv("telemetry.sdk.language", "python"),
            kv("telemetry.sdk.name", "opentelemetry"),
        ]
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "opentelemetry.instrumentation.openai_v2"
    scope_spans.scope.version = "2.4b0"
    start_ns = DAY0_NS + index * 86_400 * 10**9 + 9 * 3600 * 10**9
    for i in range(spans):
        trace, position = divmod(i, SPANS_PER_TRACE)
        span = scope_spans.spans.add()
        span.trace_id = MARK + struct.pack(">III", index, 0, trace + 1)
        span.span_id = MARK + struct.pack(">I", i + 1)
        begin = start_ns + trace * 30 * 10**9 + position * 2 * 10**9
        model = rng.choice(MODELS)
        if position == 0:
            span.name = "invoke_agent support-agent"
            span.kind = Span.SPAN_KIND_INTERNAL
            span.start_time_unix_nano = begin
            span.end_time_unix_nano = begin + 16 * 10**9
            span.attributes.extend(
                [
                    kv("gen_ai.operation.name", "invoke_agent"),
                    kv("gen_ai.agent.name", "support-agent"),
                    kv("gen_ai.provider.name", "openai"),
                    kv("gen_ai.request.model", model),
                ]
            )
            continue
        span.parent_span_id = MARK + struct.pack(">I", trace * SPANS_PER_TRACE + 1)
        span.name = f"chat {model}"
        span.kind = Span.SPAN_KIND_CLIENT
        span.start_time_unix_nano = begin
        span.end_time_unix_nano = begin + rng.randint(200, 1900) * 10**6
        attributes = [
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.provider.name", "openai"),
            kv("gen_ai.request.model", model),
            kv("gen_ai.response.model", f"{model}-2026-01-01"),
            kv("gen_ai.response.id", f"chatcmpl-{rng.getrandbits(64):016x}"),
            kv("gen_ai.request.temperature", 0.2),
            kv("gen_ai.request.max_tokens", 1024),
            kv("gen_ai.usage.input_tokens", rng.randint(200, 4000)),
            kv("gen_ai.usage.output_tokens", rng.randint(20, 800)),
            kv("gen_ai.response.finish_reasons", ["stop"] if rng.random() < 0.8 else ["tool_calls"]),
            kv("server.address", "api.openai.com"),
            kv("server.port", 443),
        ]
        if position % 4 == 1:  # 2 spans of 8 carry their messages (~1.5 KB)
            messages_in = [
                {"role": "system", "parts": [{"type": "text", "content": text(40)}]},
                {"role": "user", "parts": [{"type": "text", "content": text(rng.randint(80, 160))}]},
            ]
            messages_out = [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": text(rng.randint(50, 110))}],
                    "finish_reason": "stop",
                }
            ]
            attributes += [
                kv("gen_ai.input.messages", json.dumps(messages_in)),
                kv("gen_ai.output.messages", json.dumps(messages_out)),
            ]
        span.attributes.extend(attributes)
        if rng.random() < 0.03:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = "429 rate limited"
            span.attributes.append(kv("error.type", "RateLimitError"))
    body = request.SerializeToString()
    if body.count(MARK) != 3 * spans - spans // SPANS_PER_TRACE:
        raise SystemExit("the id marker occurs outside the ids of a template: change MARK")
    return body


def numbered(body: bytes, number: int) -> bytes:
    """The template with MARK replaced by ``number``: every trace and span id unique to this request."""
    return body.replace(MARK, struct.pack(">I", number))
