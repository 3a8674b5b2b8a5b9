"""OpenTelemetry traces in (PRODUCT.md §11): the receiver and the importer, each convention in both
encodings, every bad input, and what ends up in spans and llm_spans. The receiver is the installed
``lakehouse otlp serve`` in a process of its own; requests are real HTTP on loopback."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp_support import ServeProcess, log_record, logs, protobuf, query, span, traces
from support import lakehouse_command

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*lakehouse_command(), *args], capture_output=True, text=True, timeout=120)
    assert not check or proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def messages(value: str | None) -> list[tuple[str, list[str]]]:
    """(role, part contents) of GenAI-shaped messages."""
    return [(m["role"], [p["content"] for p in m["parts"]]) for m in json.loads(value or "[]")]


def ids(case: int, encoding: int) -> tuple[str, str]:
    return f"{case:02x}{encoding:02x}" + "ab" * 14, f"{case:02x}{encoding:02x}" + "cd" * 6


# Each convention: (span attributes, span events, log records as (event name, body, attributes), expected).
CONVENTIONS: dict[
    str, tuple[dict[str, Any], list[dict[str, Any]], list[tuple[str, Any, dict[str, Any]]], dict[str, Any]]
] = {
    "gen_ai current": (
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.usage.cache_read.input_tokens": 3,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "2+2?"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "4"}], "finish_reason": "stop"}]
            ),
        },
        [],
        [],
        {
            "model": "gpt-4o-2024-08-06",
            "request_model": "gpt-4o",
            "provider": "openai",
            "input_tokens": 11,
            "output_tokens": 7,
            "cached_input_tokens": 3,
            "finish_reasons": ["stop"],
            "input": [("user", ["2+2?"])],
            "output": [("assistant", ["4"])],
        },
    ),
    "gen_ai deprecated, content as span events": (
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3",
            "gen_ai.usage.prompt_tokens": 20,
            "gen_ai.usage.completion_tokens": 5,
        },
        [
            {
                "name": "gen_ai.content.prompt",
                "attributes": {"gen_ai.prompt": json.dumps([{"role": "user", "content": "Hi"}])},
            },
            {
                "name": "gen_ai.content.completion",
                "attributes": {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "Hello"}])},
            },
        ],
        [],
        {
            "model": "claude-3",
            "request_model": "claude-3",
            "provider": "anthropic",
            "input_tokens": 20,
            "output_tokens": 5,
            "input": [("user", ["Hi"])],
            "output": [("assistant", ["Hello"])],
        },
    ),
    "OpenInference": (
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "mistral-7b",
            "llm.provider": "mistralai",
            "llm.token_count.prompt": 30,
            "llm.token_count.completion": 9,
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be brief",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "Why?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Because",
            "input.value": "Why?",
            "output.value": "Because",
        },
        [],
        [],
        {
            "model": "mistral-7b",
            "request_model": "mistral-7b",
            "provider": "mistralai",
            "input_tokens": 30,
            "output_tokens": 9,
            "operation": "chat",
            "input": [("system", ["Be brief"]), ("user", ["Why?"])],
            "output": [("assistant", ["Because"])],
        },
    ),
    "OpenLLMetry": (
        {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-3.5-turbo",
            "gen_ai.response.model": "gpt-3.5-turbo-0125",
            "gen_ai.usage.prompt_tokens": 15,
            "llm.usage.total_tokens": 19,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Ping",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Pong",
            "gen_ai.completion.0.finish_reason": "stop",
        },
        [],
        [],
        {
            "model": "gpt-3.5-turbo-0125",
            "provider": "openai",
            "input_tokens": 15,
            "output_tokens": 4,
            "finish_reasons": ["stop"],
            "operation": "chat",
            "input": [("user", ["Ping"])],
            "output": [("assistant", ["Pong"])],
        },
    ),
    "content as an operation.details log record": (
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "m5",
            "gen_ai.usage.input_tokens": 1,
            "gen_ai.usage.output_tokens": 2,
        },
        [],
        [
            (
                "gen_ai.client.inference.operation.details",
                {},
                {
                    "gen_ai.input.messages": [
                        {"role": "user", "parts": [{"type": "text", "content": "Structured?"}]}
                    ],
                    "gen_ai.output.messages": [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": "Yes"}],
                            "finish_reason": "stop",
                        }
                    ],
                },
            )
        ],
        {
            "model": "m5",
            "input_tokens": 1,
            "output_tokens": 2,
            "input": [("user", ["Structured?"])],
            "output": [("assistant", ["Yes"])],
        },
    ),
    "content as older per-message log records": (
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "m6"},
        [],
        [
            ("gen_ai.system.message", {"content": "Sys"}, {}),
            ("gen_ai.user.message", {"content": "Q"}, {}),
            (
                "gen_ai.choice",
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "A"}},
                {},
            ),
        ],
        {
            "model": "m6",
            "provider": "openai",
            "input": [("system", ["Sys"]), ("user", ["Q"])],
            "output": [("assistant", ["A"])],
        },
    ),
}


def send(
    client: httpx.Client, url: str, path: str, document: dict[str, Any], encoding: str
) -> httpx.Response:
    if encoding == "protobuf":
        return client.post(f"{url}{path}", content=protobuf(document), headers=PROTOBUF)
    return client.post(f"{url}{path}", content=json.dumps(document), headers=JSON)


@pytest.mark.slow
def test_every_convention_in_both_encodings_reads_into_the_same_columns(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    sent: dict[str, tuple[str, dict[str, Any]]] = {}
    with ServeProcess(root) as serve, httpx.Client() as client:
        for case, (name, (attributes, events, records, expected)) in enumerate(CONVENTIONS.items()):
            for enc, encoding in enumerate(("json", "protobuf")):
                trace_id, span_id = ids(case, enc)
                reply = send(
                    client,
                    serve.url,
                    "/v1/traces",
                    traces([span(trace_id, span_id, f"chat {name}", attributes, events=events)]),
                    encoding,
                )
                assert reply.status_code == 200, reply.text
                media = (PROTOBUF if encoding == "protobuf" else JSON)["Content-Type"]
                assert reply.headers["content-type"] == media
                if records:
                    batch = logs([log_record(trace_id, span_id, *record) for record in records])
                    assert send(client, serve.url, "/v1/logs", batch, encoding).status_code == 200
                sent[span_id] = (name, expected)
        assert serve.stop() == 0
    assert any(line.startswith("stopped: 16 requests, 12 spans and 8 log records") for line in serve.lines), (
        serve.lines
    )
    rows = {r["span_id"]: r for r in query(root, "SELECT * FROM llm_spans")}
    assert set(rows) == set(sent)
    for span_id, (name, expected) in sent.items():
        row = rows[span_id]
        for column, value in expected.items():
            if column == "input":
                assert messages(row["input_messages"]) == value, name
            elif column == "output":
                assert messages(row["output_messages"]) == value, name
            else:
                assert row[column] == value, (name, column)
    # both encodings of a convention give the same row
    for case in range(len(CONVENTIONS)):
        a, b = rows[ids(case, 0)[1]], rows[ids(case, 1)[1]]
        same = (
            "model",
            "provider",
            "input_tokens",
            "output_tokens",
            "input_messages",
            "output_messages",
            "duration_ms",
        )
        assert {k: a[k] for k in same} == {k: b[k] for k in same}
    evidence = query(
        root,
        "SELECT model, prompt_tokens, completion_tokens, passed, text FROM evidence "
        "WHERE kind = 'otel_span' AND run_id = '" + ids(0, 0)[0] + "'",
    )
    assert evidence == [
        {
            "model": "gpt-4o-2024-08-06",
            "prompt_tokens": 11,
            "completion_tokens": 7,
            "passed": True,
            "text": "chat gen_ai current (test-service) — gpt-4o-2024-08-06 — 11 in / 7 out tokens — 250.0 ms",
        }
    ]


def raw_request(port: int, head: bytes) -> int:
    """Send bytes as they are (what httpx will not send) and return the status code answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.slow
def test_bad_requests_get_their_status_nothing_written_and_the_receiver_keeps_serving(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    spans_file = root / "data" / "_kb" / "otel_spans.jsonl"
    good = traces([span(*ids(1, 1), "chat ok", {"gen_ai.request.model": "m"})])
    limit = 64 * 1024
    huge = traces([span(*ids(2, 2), "chat big", {"gen_ai.input.messages": "x" * (2 * limit)})])
    bomb = gzip.compress(b"\0" * (50 * limit))  # 3 MB of zeros in a few KB: inflates past the limit
    assert len(bomb) < limit
    cases: list[tuple[str, str, str, dict[str, str], bytes, int]] = [
        ("text/plain", "POST", "/v1/traces", {"Content-Type": "text/plain"}, b"hello", 415),
        ("no media type", "POST", "/v1/traces", {}, protobuf(good), 415),
        ("brotli", "POST", "/v1/traces", {**PROTOBUF, "Content-Encoding": "br"}, protobuf(good), 415),
        ("garbage protobuf", "POST", "/v1/traces", PROTOBUF, b"\xff\xfe\x00garbage", 400),
        ("invalid JSON", "POST", "/v1/traces", JSON, b'{"resourceSpans": [', 400),
        ("JSON that is not OTLP", "POST", "/v1/traces", JSON, b'{"resourceSpans": 5}', 400),
        ("a JSON array", "POST", "/v1/logs", JSON, b"[1, 2]", 400),
        (
            "id neither hex nor base64",
            "POST",
            "/v1/traces",
            JSON,
            json.dumps(traces([span("zz", "cdcdcdcdcdcdcdcd", "x", {})])).encode(),
            400,
        ),
        (
            "truncated gzip",
            "POST",
            "/v1/traces",
            {**PROTOBUF, "Content-Encoding": "gzip"},
            gzip.compress(protobuf(good))[:-10],
            400,
        ),
        ("not gzip at all", "POST", "/v1/traces", {**PROTOBUF, "Content-Encoding": "gzip"}, b"plain", 400),
        ("body over the limit", "POST", "/v1/traces", JSON, json.dumps(huge).encode(), 413),
        ("gzip bomb", "POST", "/v1/traces", {**PROTOBUF, "Content-Encoding": "gzip"}, bomb, 413),
        ("GET", "GET", "/v1/traces", {}, b"", 405),
        ("DELETE", "DELETE", "/v1/logs", {}, b"", 405),
        ("metrics", "POST", "/v1/metrics", PROTOBUF, protobuf(good), 404),
        ("root path", "GET", "/", {}, b"", 404),
    ]
    with (
        ServeProcess(root, "--max-body-bytes", str(limit), "--materialize-every", "0") as serve,
        httpx.Client() as client,
    ):
        for label, method, path, headers, body, status in cases:
            reply = client.request(method, f"{serve.url}{path}", headers=headers, content=body)
            assert reply.status_code == status, (label, reply.text)
            if status == 405:
                assert reply.headers["allow"] == "POST"
            assert not spans_file.exists() or spans_file.stat().st_size == 0, label
        chunked = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        assert raw_request(serve.port, chunked) == 411
        assert raw_request(serve.port, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n\r\n") == 411
        assert (
            raw_request(serve.port, b"BREW /v1/traces HTTP/1.1\r\nHost: x\r\n\r\n") == 501
        )  # no such method
        # a request with one span that cannot be identified: the rest is kept, the OTLP way
        mixed = traces(
            [span(*ids(3, 3), "chat kept", {}), span("00" * 16, "cdcdcdcdcdcdcdcd", "no trace id", {})]
        )
        reply = client.post(f"{serve.url}/v1/traces", content=json.dumps(mixed), headers=JSON)
        assert reply.status_code == 200
        assert reply.json()["partialSuccess"]["rejectedSpans"] == "1"
        assert "trace_id" in reply.json()["partialSuccess"]["errorMessage"]
        reply = client.post(f"{serve.url}/v1/traces", content=protobuf(mixed), headers=PROTOBUF)
        answer = ExportTraceServiceResponse.FromString(reply.content)
        assert answer.partial_success.rejected_spans == 1
        # log records that are not GenAI events are counted as rejected, the GenAI one kept
        plain = log_record(*ids(3, 3), "app.started", "hello")
        reply = client.post(
            f"{serve.url}/v1/logs",
            headers=JSON,
            content=json.dumps(
                logs([plain, log_record(*ids(3, 3), "gen_ai.user.message", {"content": "hi"})])
            ),
        )
        assert reply.json()["partialSuccess"]["rejectedLogRecords"] == "1"
        # still serving, and a good gzip request is taken
        reply = client.post(
            f"{serve.url}/v1/traces",
            content=gzip.compress(protobuf(good)),
            headers={**PROTOBUF, "Content-Encoding": "gzip"},
        )
        assert reply.status_code == 200 and reply.content == b""
        assert serve.proc.poll() is None
        assert serve.stop() == 0
    kept = [json.loads(line) for line in spans_file.read_text().splitlines()]
    assert sorted(s["span_id"] for s in kept) == sorted([ids(3, 3)[1], ids(3, 3)[1], ids(1, 1)[1]])
    assert not (root / "data" / "evidence").exists()  # --materialize-every 0: the streams only
    cli("materialize", "--root", str(root))
    rows = query(root, "SELECT span_id, name FROM spans ORDER BY span_id")  # the resent span is one record
    assert rows == [
        {"span_id": ids(1, 1)[1], "name": "chat ok"},
        {"span_id": ids(3, 3)[1], "name": "chat kept"},
    ]


@pytest.mark.slow
def test_other_hosts_need_a_bearer_token(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    refused = cli("otlp", "serve", "--root", str(root), "--host", "0.0.0.0", "--port", "0", check=False)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: --host 0.0.0.0 accepts connections from other machines")
    env = {**__import__("os").environ, "LH_OTLP_TOKEN": "s3cret"}
    document = json.dumps(traces([span(*ids(4, 4), "chat", {})]))
    with ServeProcess(root, "--host", "0.0.0.0", env=env) as serve, httpx.Client() as client:
        url = f"http://127.0.0.1:{serve.port}/v1/traces"
        assert client.post(url, content=document, headers=JSON).status_code == 401
        wrong = {**JSON, "Authorization": "Bearer nope"}
        assert client.post(url, content=document, headers=wrong).status_code == 401
        right = {**JSON, "Authorization": "Bearer s3cret"}
        assert client.post(url, content=document, headers=right).status_code == 200
        serve.stop()


def test_import_quarantines_what_is_not_otlp_and_adds_nothing_the_second_time(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    trace_id, span_id = ids(5, 5)
    lines = [
        json.dumps(
            traces(
                [
                    span(
                        trace_id,
                        span_id,
                        "chat a",
                        {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": "12"},
                    )
                ]
            )
        ),
        json.dumps(logs([log_record(trace_id, span_id, "gen_ai.user.message", {"content": "hi"})])),
        "this is not JSON",
        json.dumps({"hello": "world"}),
        "[" * 100_000 + "]" * 100_000,  # nested past any parser's depth
        "",
    ]
    exported = tmp_path / "export.jsonl"
    exported.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(traces([span(*ids(6, 6), "chat b", {"llm.model_name": "x"})]), indent=2))
    first = cli("otlp", "import", "--root", str(root), str(exported), str(pretty), "--json")
    report = json.loads(first.stdout)
    assert (report["spans"], report["logs"], report["quarantined"], report["requests"]) == (2, 1, 3, 3)
    quarantined = query(root, "SELECT stream, line, reason FROM quarantine ORDER BY line")
    assert [(q["stream"], q["line"]) for q in quarantined] == [("otlp_import", n) for n in (3, 4, 5)]
    assert quarantined[0]["reason"].startswith("invalid JSON")
    assert "not an OTLP request" in quarantined[1]["reason"]
    listed = cli("quarantine", "list", "--root", str(root), "--stream", "otlp_import", "--json")
    assert len([json.loads(line) for line in listed.stdout.splitlines() if line.strip()]) >= 1
    again = cli("otlp", "import", "--root", str(root), str(exported), str(pretty))
    assert "materialized 0 new evidence records" in again.stderr
    counts = query(root, "SELECT kind, count(*) AS n FROM evidence GROUP BY kind ORDER BY kind")
    assert counts == [{"kind": "otel_log", "n": 1}, {"kind": "otel_span", "n": 2}]
    assert query(root, "SELECT count(*) AS n FROM quarantine") == [{"n": 3}]  # the same lines, once
    row = query(
        root, "SELECT model, input_tokens, input_messages FROM llm_spans WHERE span_id = '" + span_id + "'"
    )
    assert row == [
        {
            "model": "m",
            "input_tokens": 12,
            "input_messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
        }
    ]
    from_stdin = subprocess.run(
        [*lakehouse_command(), "otlp", "import", "--root", str(root), "-"],
        input=lines[0],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert from_stdin.returncode == 0 and "imported 1 spans" in from_stdin.stderr


@pytest.mark.slow
def test_a_span_with_a_prompt_of_megabytes_is_evidence_whole(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    context = "lorem ipsum dolor " * 400_000  # ~7 MB: a long context, past the default line limit
    prompt = json.dumps([{"role": "user", "parts": [{"type": "text", "content": context}]}])
    document = traces(
        [span(*ids(7, 7), "chat long", {"gen_ai.operation.name": "chat", "gen_ai.input.messages": prompt})]
    )
    with ServeProcess(root) as serve, httpx.Client(timeout=60) as client:
        reply = client.post(
            f"{serve.url}/v1/traces",
            content=gzip.compress(protobuf(document)),
            headers={**PROTOBUF, "Content-Encoding": "gzip"},
        )
        assert reply.status_code == 200
        serve.stop()
    assert query(root, "SELECT count(*) AS n FROM quarantine") == [{"n": 0}]
    (row,) = query(root, "SELECT input_messages FROM llm_spans")
    assert messages(row["input_messages"]) == [("user", [context])]


@pytest.mark.slow
def test_received_spans_become_evidence_while_the_receiver_runs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with ServeProcess(root, "--materialize-every", "0.5") as serve, httpx.Client() as client:
        document = traces([span(*ids(8, 8), "chat soon", {"gen_ai.request.model": "m"})])
        assert (
            client.post(f"{serve.url}/v1/traces", content=protobuf(document), headers=PROTOBUF).status_code
            == 200
        )
        deadline = time.monotonic() + 30
        found = ""
        while time.monotonic() < deadline and '"n":1' not in found:
            found = cli(
                "sql",
                "--root",
                str(root),
                "SELECT count(*) AS n FROM spans",
                "--format",
                "jsonl",
                check=False,
            ).stdout
            time.sleep(0.2)
        assert '"n":1' in found
        assert any("materialized 1 new evidence records" in line for line in serve.lines)
        serve.stop()
