"""An agent instrumented as people instrument theirs, run by test_otlp.py in a process of its own
(OpenTelemetry's providers are process-wide): the real ``openai`` client, instrumented by
``opentelemetry-instrumentation-openai-v2``, talking to a loopback stub gateway, inside an
``invoke_agent`` span, exported over OTLP/HTTP protobuf to a receiver or by the JSON file exporter.

usage: python otel_agent.py (--endpoint URL | --files TRACES LOGS) --calls N

Content capture follows the environment, as it does for users. Prints one JSON line: the agent
span's id and what the stub answered.
"""

from __future__ import annotations

import argparse
import json

import openai
from opentelemetry import _logs, trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from stub_gateway import StubGateway

MODEL = "gpt-4o-mini"
ANSWER = "hello from the stub"


def exporters(args: argparse.Namespace) -> tuple[object, object]:
    if args.endpoint:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"{args.endpoint}/v1/traces"), OTLPLogExporter(
            endpoint=f"{args.endpoint}/v1/logs"
        )
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.exporter.otlp.json.file._log_exporter import FileLogExporter

    return FileSpanExporter(args.files[0]), FileLogExporter(args.files[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint")
    parser.add_argument("--files", nargs=2)
    parser.add_argument("--calls", type=int, default=2)
    args = parser.parse_args()
    span_exporter, log_exporter = exporters(args)
    resource = Resource.create({"service.name": "test-agent"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    _logs.set_logger_provider(logger_provider)
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)

    with StubGateway() as stub:
        stub.script[MODEL] = [("ok", ANSWER)]
        client = openai.OpenAI(base_url=f"{stub.url}/v1", api_key="sk-test", max_retries=0)
        tracer = trace.get_tracer("test.agent")
        with tracer.start_as_current_span(
            "invoke_agent planner",
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
        ) as agent:
            for i in range(args.calls):
                reply = client.chat.completions.create(
                    model=MODEL,
                    messages=[
                        {"role": "system", "content": "You are terse."},
                        {"role": "user", "content": f"question {i}"},
                    ],
                )
                assert reply.choices[0].message.content == ANSWER
        client.close()  # the stub waits for its kept-alive connections when it stops
    tracer_provider.force_flush()
    logger_provider.force_flush()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    print(json.dumps({"agent_span_id": format(agent.get_span_context().span_id, "016x"), "model": MODEL}))


if __name__ == "__main__":
    main()
