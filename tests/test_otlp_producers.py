"""Real producers and a bad day: the ``openai`` client instrumented by openai-v2 exporting to the
receiver (OTLP/HTTP protobuf) and to a file for ``otlp import`` (the JSON file exporter); four
exporters sending while the receiver is SIGKILLed and restarted."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from otlp_support import ServeProcess, protobuf, query, span, traces
from support import lakehouse_command

pytestmark = pytest.mark.slow
AGENT = Path(__file__).resolve().parent / "otel_agent.py"


def run_agent(*args: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(AGENT), *args, "--calls", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def check_agent_trace(root: Path, agent: dict[str, Any]) -> None:
    calls = query(root, "SELECT * FROM llm_spans ORDER BY start_time")
    assert len(calls) == 3  # every chat span is one model call
    for i, call in enumerate(calls):
        assert (call["model"], call["request_model"], call["operation"]) == (
            agent["model"],
            agent["model"],
            "chat",
        )
        assert (call["input_tokens"], call["output_tokens"], call["provider"]) == (11, 7, "openai")
        assert call["parent_span_id"] == agent["agent_span_id"] and call["agent"] == "planner"
        inputs = [(m["role"], [p["content"] for p in m["parts"]]) for m in json.loads(call["input_messages"])]
        assert inputs == [("system", ["You are terse."]), ("user", [f"question {i}"])]
        (answer,) = json.loads(call["output_messages"])
        assert (answer["role"], answer["parts"][0]["content"]) == ("assistant", "hello from the stub")
    parents = query(
        root,
        "SELECT DISTINCT p.name, p.span_id FROM spans AS c JOIN spans AS p "
        "ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id",
    )
    assert parents == [{"name": "invoke_agent planner", "span_id": agent["agent_span_id"]}]
    assert query(root, "SELECT service, count(*) AS n FROM spans GROUP BY service") == [
        {"service": "test-agent", "n": 4}
    ]


def test_the_instrumented_openai_client_exports_to_the_receiver(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    latest = {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
    }
    with ServeProcess(root) as serve:
        agent = run_agent("--endpoint", serve.url, env=latest)
        assert serve.stop() == 0
    check_agent_trace(root, agent)
    assert query(root, "SELECT count(*) AS n FROM evidence WHERE kind = 'otel_log'") == [{"n": 3}]


def test_the_json_file_exporter_s_files_import(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    spans_file, logs_file = tmp_path / "traces.jsonl", tmp_path / "logs.jsonl"
    legacy = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}  # one log record per message
    agent = run_agent("--files", str(spans_file), str(logs_file), env=legacy)
    proc = subprocess.run(
        [*lakehouse_command(), "otlp", "import", "--root", str(root), str(spans_file), str(logs_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    check_agent_trace(root, agent)


class Exporter(threading.Thread):
    """Sends its batches in order; a batch not answered 200 is sent again (to whichever receiver is up)."""

    def __init__(self, number: int, batches: int, spans_per_batch: int, url: list[str]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.bodies = []
        self.span_ids: list[list[str]] = []
        for b in range(batches):
            trace_id = f"{number:04x}{b:04x}" + "0" * 23 + "1"
            spans = [
                span(
                    trace_id,
                    f"{number:02x}{b:04x}{s:04x}"[:16].ljust(16, "7"),
                    f"chat {s}",
                    {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": s},
                )
                for s in range(spans_per_batch)
            ]
            self.span_ids.append([s["spanId"] for s in spans])
            self.bodies.append(protobuf(traces(spans)))
        self.acknowledged = 0
        self.attempts = 0

    def run(self) -> None:
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=10) as client:
            for body in self.bodies:
                while time.monotonic() < deadline:
                    self.attempts += 1
                    try:
                        if (
                            client.post(
                                f"{self.url[0]}/v1/traces",
                                content=body,
                                headers={"Content-Type": "application/x-protobuf"},
                            ).status_code
                            == 200
                        ):
                            self.acknowledged += 1
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.05)


def test_exactly_once_when_the_receiver_is_killed_while_four_exporters_send(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    rng = random.Random(int(time.time()))
    serve = ServeProcess(root, "--materialize-every", "0.3")
    url = [serve.url]
    exporters = [Exporter(n, batches=100, spans_per_batch=64, url=url) for n in range(4)]
    for exporter in exporters:
        exporter.start()
    for _ in range(2):  # killed twice at a random instant, restarted on the same port
        time.sleep(rng.uniform(0.2, 1.0))
        serve.kill()
        serve = ServeProcess(root, "--materialize-every", "0.3", port=serve.port)
    for exporter in exporters:
        exporter.join(150)
    assert all(e.acknowledged == 100 for e in exporters), [e.acknowledged for e in exporters]
    assert sum(e.attempts for e in exporters) > 400  # the kills interrupted sending: batches were sent again
    assert serve.stop() == 0
    proc = subprocess.run(
        [*lakehouse_command(), "materialize", "--root", str(root)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    sent = {(s) for e in exporters for batch in e.span_ids for s in batch}
    rows = query(root, "SELECT span_id, count(*) AS n FROM spans GROUP BY span_id")
    assert {r["span_id"] for r in rows} == sent  # every acknowledged span is evidence
    assert max(r["n"] for r in rows) == 1  # exactly once
    assert query(root, "SELECT count(*) AS n FROM quarantine") == [{"n": 0}]  # no torn line became bad input
