"""OTLP receiver: durable ack throughput and latency, background materialize, materialize of 1M spans.

Targets (PRODUCT.md §9): ≥ 20,000 spans/s acknowledged durably with four concurrent exporters of
512-span protobuf batches; p50/p99 ack latency; materialize of 1M spans against a bare COPY.

    python bench/otlp.py --json                       # the three parts, ~4-5 minutes on 2 cores
    python bench/otlp.py --parts receiver --duration 10

Parts:
  receiver     `lakehouse otlp serve --port 0 --materialize-every 0` as a child process; four exporter
               processes send pre-encoded ExportTraceServiceRequest bodies of 512 GenAI spans (traces
               of 8 spans: an agent span and 7 chat spans with gen_ai.* attributes, a quarter of the chat
               spans with ~1.5 KB of input/output messages; ids unique per request) over keep-alive
               HTTP for --duration seconds after --warmup. Only 200s count; afterwards the stream must
               hold exactly the acknowledged spans. Receiver CPU from /proc/PID/stat.
  background   the same with --materialize-every 1 (the default users run), plus how long after the
               last ack every span is evidence (the receiver's own "materialized N" lines, then a
               count of the spans table after SIGTERM).
  materialize  --spans flattened spans written as the receiver writes them (protobuf batches through
               decode.flattened + store.line_of; cached in the temporary folder), then `lakehouse
               materialize` of a fresh root (CLI process) against a bare DuckDB COPY of the same file
               to day-partitioned Parquet.

--server-command runs the receiver parts against another server (a comparison): a shell command
with {root} in it that listens on 127.0.0.1 and prints "listening on http://127.0.0.1:PORT" on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import inspect
import json
import multiprocessing
import os
import re
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import lakehouse_cmd, machine, run_child

BATCH_SPANS = 512
SPANS_PER_TRACE = 8
EXPORTERS = 4
TARGET_SPANS_PER_S = 20_000
MARK = b"\xfe\xed\xfa\xce"  # the first 4 bytes of every id in a template; never valid UTF-8, so never in text
TEMPLATES = 4  # different contents and days; each request is one of them with its ids renumbered
DAY0_NS = 1_777_593_600 * 10**9  # 2026-05-01T00:00:00Z
MAX_REQUESTS = 200_000  # per exporter: a bound on the loop besides its deadline
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


# --- the exporters -------------------------------------------------------------------------------


def exporter(
    index: int, port: int, templates: list[bytes], start: float, measure: float, end: float, out: Any
) -> None:
    """Send numbered templates until ``end`` (monotonic, shared by processes); report through ``out``."""
    headers = {"Content-Type": "application/x-protobuf", "Connection": "keep-alive"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: list[float] = []
    acked = measured_spans = errors = reconnects = 0
    statuses: dict[str, int] = {}
    last_done = measure
    while time.monotonic() < start:
        time.sleep(0.005)
    for n in range(MAX_REQUESTS):
        if time.monotonic() >= end:
            break
        body = numbered(templates[n % len(templates)], ((index + 1) << 24) | (n + 1))
        begin = time.monotonic()
        try:
            conn.request("POST", "/v1/traces", body, headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            errors += 1
            status = 0
            conn.close()
            reconnects += 1
            if reconnects > 20:
                break
            time.sleep(0.1)
        done = time.monotonic()
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200:
            acked += BATCH_SPANS
            if begin >= measure:
                measured_spans += BATCH_SPANS
                latencies.append((done - begin) * 1000)
                last_done = done
    conn.close()
    out.put(
        {
            "index": index,
            "acked_spans": acked,
            "measured_spans": measured_spans,
            "latencies_ms": latencies,
            "last_done": last_done,
            "statuses": statuses,
            "errors": errors,
        }
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """The receiver as a child process; its stderr lines are kept, with their arrival times."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[tuple[float, str]] = []
        self.port: int | None = None
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(60) or self.port is None:
            self.proc.kill()
            raise SystemExit(f"the receiver did not start: {self.text()}")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if found and self.port is None:
                self.port = int(found.group(1))
                self._listening.set()
        self._listening.set()

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines[-20:])

    def stop(self, timeout: float = 180) -> float:
        """SIGTERM; returns the seconds until the process exited."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise SystemExit(f"the receiver did not stop within {timeout} s: {self.text()}") from None
        self._reader.join(10)
        return time.monotonic() - start


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
    return lines


def materialized_lines(server: Server) -> list[tuple[float, int]]:
    """(arrival, evidence records emitted) of each background materialize the receiver reported."""
    out = []
    for at, line in server.lines:
        found = re.search(r"materialized (\d+) new evidence records", line)
        if found:
            out.append((at, int(found.group(1))))
    return out


def load_run(args: argparse.Namespace, materialize_every: float, templates: list[bytes]) -> dict[str, Any]:
    """One receiver under four exporter processes; the figures, and the stream checked against the acks."""
    work = Path(tempfile.mkdtemp(prefix="lh-bench-otlp-"))
    root = work / "root"
    root.mkdir()
    if args.server_command:
        command = shlex.split(args.server_command.replace("{root}", str(root)))
    else:
        command = lakehouse_cmd(
            "otlp",
            "serve",
            "--root",
            str(root),
            "--port",
            "0",
            "--materialize-every",
            f"{materialize_every:g}",
        )
    server = Server(command)
    try:
        return measure_load(args, server, root, materialize_every, templates)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def measure_load(
    args: argparse.Namespace, server: Server, root: Path, materialize_every: float, templates: list[bytes]
) -> dict[str, Any]:
    """Four exporters against a started receiver, then its stream (and evidence) checked against the acks."""
    assert server.port is not None
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = time.monotonic() + 3.0  # the exporters' start-up (imports) before it
    measure = start + args.warmup
    end = measure + args.duration
    procs = [
        context.Process(
            target=exporter, args=(i, server.port, templates, start, measure, end, results), daemon=True
        )
        for i in range(EXPORTERS)
    ]
    for proc in procs:
        proc.start()
    while time.monotonic() < measure:
        time.sleep(0.01)
    cpu_before = cpu_seconds(server.proc.pid)
    reports = [results.get(timeout=args.duration + args.warmup + 120) for _ in procs]
    cpu_after = cpu_seconds(server.proc.pid)
    for proc in procs:
        proc.join(30)
    last_ack = max(r["last_done"] for r in reports)
    acked = sum(r["acked_spans"] for r in reports)
    measured = sum(r["measured_spans"] for r in reports)
    latencies = [ms for r in reports for ms in r["latencies_ms"]]
    statuses: dict[str, int] = {}
    for r in reports:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    elapsed = last_ack - measure
    result: dict[str, Any] = {
        "materialize_every_s": materialize_every,
        "measured_s": round(elapsed, 2),
        "spans_per_s": round(measured / elapsed),
        "requests": len(latencies),
        "ack_p50_ms": round(percentile(latencies, 0.50), 1),
        "ack_p99_ms": round(percentile(latencies, 0.99), 1),
        "ack_max_ms": round(max(latencies, default=float("nan")), 1),
        "statuses": statuses,
        "acked_spans": acked,
        "receiver_cpu_s": round(cpu_after - cpu_before, 2),
        "receiver_cpu_s_per_1000_spans": round((cpu_after - cpu_before) / measured * 1000, 4),
    }
    if materialize_every > 0:
        result.update(wait_for_evidence(server, acked, last_ack, args.evidence_timeout))
    result["stop_s"] = round(server.stop(), 2)
    stream = root / "data" / "_kb" / "otel_spans.jsonl"
    result["stream_lines"] = count_lines(stream)
    result["stream_mib"] = round(stream.stat().st_size / 2**20, 1) if stream.exists() else 0
    result["stream_matches_acks"] = result["stream_lines"] == acked
    stopped = [line for _, line in server.lines if line.startswith("stopped:")]
    result["receiver_says"] = stopped[-1] if stopped else server.text()
    warnings = list(dict.fromkeys(line[:300] for _, line in server.lines if line.startswith("warning:")))
    result["receiver_warnings"] = warnings[:5]
    if materialize_every > 0:
        result["evidence_after_stop"] = count_spans(root)
        result["evidence_matches_acks"] = result["evidence_after_stop"] == acked
    return result


def wait_for_evidence(server: Server, acked: int, last_ack: float, timeout: float) -> dict[str, Any]:
    """How long after the last ack the receiver's background materializes had made every span evidence.

    Read from its "materialized N new evidence records" lines. Gives up after ``timeout`` seconds, or
    30 s without progress once a materialize has failed after the last ack (it retries the same,
    growing, backlog)."""
    deadline = last_ack + timeout
    while time.monotonic() < deadline:
        done = accumulate(materialized_lines(server))
        if done and done[-1][1] >= acked:
            break
        progress = max([last_ack] + [at for at, _ in done])
        failed = [at for at, line in server.lines if "materialize failed" in line and at > last_ack]
        if failed and time.monotonic() - progress > 30:
            break
        time.sleep(0.1)
    done = accumulate(materialized_lines(server))
    complete = [at for at, total in done if total >= acked]
    return {
        "evidence_lag_s": round(complete[0] - last_ack, 2) if complete else None,
        "evidence_before_stop": done[-1][1] if done else 0,
        "materializes_before_stop": len(done),
        "materialize_failures": sum("materialize failed" in line for _, line in server.lines),
    }


def accumulate(points: list[tuple[float, int]]) -> list[tuple[float, int]]:
    total, out = 0, []
    for at, n in points:
        total += n
        out.append((at, total))
    return out


def count_spans(root: Path) -> int | None:
    run = subprocess.run(
        lakehouse_cmd("sql", "--root", str(root), "SELECT count(*) AS n FROM spans", "--format", "json"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if run.returncode != 0:
        return None
    return int(json.loads(run.stdout)[0]["n"])


# --- materialize of 1M spans ---------------------------------------------------------------------

BASELINE_SQL = """
COPY (
    SELECT *, strftime(TRY_CAST(start_time AS TIMESTAMPTZ), '%Y-%m-%d') AS day
    FROM read_json($files, format = 'newline_delimited', union_by_name = true)
) TO '{out}' (FORMAT parquet, PARTITION_BY (day))
"""


def source_version() -> str:
    """A hash of the code that writes a stream line, so a cached file is rebuilt when it changes."""
    from lakehouse.otlp import decode, flatten, store

    text = "".join(inspect.getsource(m) for m in (decode, flatten, store)) + inspect.getsource(template)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def spans_file(spans: int, templates: list[bytes]) -> tuple[Path, float | None]:
    """A cached stream of at least ``spans`` flattened spans (and the seconds it took, when made now)."""
    from lakehouse.otlp import decode, store

    cache = Path(tempfile.gettempdir()) / "lh-bench-otlp-cache"
    version = source_version()
    for cached in cache.glob(f"otel_spans-*-{version}.jsonl"):
        if int(cached.name.split("-")[1]) >= spans:
            return cached, None  # its first lines are what this run takes
    path = cache / f"otel_spans-{spans}-{version}.jsonl"
    cache.mkdir(exist_ok=True)
    for old in cache.glob("otel_spans-*.jsonl"):
        old.unlink()  # one cached file at a time
    start = time.perf_counter()
    partial = path.with_suffix(".partial")
    with partial.open("wb") as f:
        for n in range((spans + BATCH_SPANS - 1) // BATCH_SPANS):
            body = numbered(templates[n % len(templates)], 0x7F000000 | (n + 1))
            records = decode.flattened("traces", decode.parse("traces", body, "protobuf")).records
            f.write(b"".join(store.line_of(r) for r in records[: spans - n * BATCH_SPANS]))
    partial.rename(path)
    return path, time.perf_counter() - start


def per_batch_costs(templates: list[bytes], batches: int = 40) -> dict[str, float]:
    """Milliseconds per 512-span request of each step of the receiver's work, in one thread."""
    from lakehouse.otlp import decode, store

    steps = {"protobuf_parse": 0.0, "flatten": 0.0, "json_lines": 0.0, "append_fsync": 0.0}
    with tempfile.TemporaryDirectory(prefix="lh-bench-otlp-") as tmp:
        stream = Path(tmp) / "otel_spans.jsonl"
        for n in range(batches):
            body = numbered(templates[n % len(templates)], n + 1)
            t0 = time.perf_counter()
            message = decode.parse("traces", body, "protobuf")
            t1 = time.perf_counter()
            records = decode.flattened("traces", message).records
            t2 = time.perf_counter()
            payload = b"".join(store.line_of(r) for r in records)
            t3 = time.perf_counter()
            store.append(stream, payload)
            t4 = time.perf_counter()
            for step, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                steps[step] += seconds
    costs = {step: round(seconds / batches * 1000, 2) for step, seconds in steps.items()}
    costs["total"] = round(sum(costs.values()), 2)
    costs["one_core_spans_per_s"] = round(BATCH_SPANS / costs["total"] * 1000)
    return costs


COPY_CHILD = """
import json, sys, time
import duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")
start = time.perf_counter()
con.execute(sys.argv[1], {"files": json.loads(sys.argv[2])})
print(time.perf_counter() - start)
"""


def baseline_copy(files: list[str], out: Path) -> dict[str, Any]:
    """The bare COPY, in a child process of its own (so that this process stays small: a child's peak
    RSS as wait4 reports it starts from its parent's RSS at the fork)."""
    run = run_child(
        [sys.executable, "-c", COPY_CHILD, BASELINE_SQL.format(out=out.as_posix()), json.dumps(files)]
    )
    if run["returncode"] != 0:
        raise SystemExit(f"the COPY baseline failed: {run['stderr']}")
    return {"seconds": float(run["stdout"].strip().splitlines()[-1]), "peak_rss_mib": run["peak_rss_mib"]}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def materialize_run(source: Path, spans: int, keep: bool) -> dict[str, Any]:
    """`lakehouse materialize` of the first ``spans`` lines of ``source`` against a bare COPY of them."""
    work = Path(tempfile.mkdtemp(prefix="lh-bench-otlp-"))
    try:
        root = work / "root"
        (root / "data" / "_kb").mkdir(parents=True)
        stream = root / "data" / "_kb" / "otel_spans.jsonl"
        copy_lines(source, stream, spans)
        copy = baseline_copy([str(stream)], work / "copy_out")
        copy_s = copy["seconds"]
        parent_rss = rss_mib()
        run = run_child(lakehouse_cmd("materialize", "--root", str(root), "--json"))
        result: dict[str, Any] = {
            "spans": spans,
            "input_mib": round(stream.stat().st_size / 2**20, 1),
            "duckdb_copy_s": round(copy_s, 2),
            "duckdb_copy_peak_rss_mib": round(copy["peak_rss_mib"], 1),
            "materialize_s": round(run["seconds"], 2),
            "peak_rss_mib": round(run["peak_rss_mib"], 1),
            "bench_process_rss_mib": round(parent_rss, 1),  # the floor of the child's peak RSS
        }
        if run["returncode"] != 0:
            result["error"] = (run["stderr"].strip().splitlines() or ["(no message)"])[-1][:300]
            return result
        receipt = json.loads(run["stdout"])
        result.update(
            ratio_vs_copy=round(run["seconds"] / copy_s, 2),
            spans_per_s=round(spans / run["seconds"]),
            emitted=receipt["totals"]["emitted"],
            quarantined=receipt["totals"]["quarantined"],
            partitions=receipt["totals"]["partitions"],
        )
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def copy_lines(source: Path, target: Path, lines: int) -> None:
    """The first ``lines`` lines of ``source`` into ``target`` (the whole file when it has no more)."""
    with source.open("rb") as f, target.open("wb") as out:
        for n, line in enumerate(f):
            if n >= lines:
                break
            out.write(line)


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--parts",
        default="receiver,background,materialize",
        help="comma-separated: receiver, background, materialize (default: all three)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans in the materialize part")
    parser.add_argument(
        "--fallback-spans",
        type=int,
        default=100_000,
        help="when the materialize of --spans fails, measure the first this many spans too (0: do not)",
    )
    parser.add_argument(
        "--evidence-timeout",
        type=float,
        default=120.0,
        help="longest wait, after the last ack, for the background materialize to catch up",
    )
    parser.add_argument("--server-command", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary roots")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"receiver", "background", "materialize"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    templates = [template(i) for i in range(TEMPLATES)]
    result: dict[str, Any] = {
        "benchmark": "otlp",
        "exporters": EXPORTERS,
        "batch_spans": BATCH_SPANS,
        "request_kib": round(statistics.mean(len(t) for t in templates) / 1024),
        "duration_s": args.duration,
        "per_batch_ms_one_thread": per_batch_costs(templates),
    }
    if args.server_command:
        result["server_command"] = args.server_command
    for part in ("receiver", "background"):
        if part in parts:
            print(f"otlp: {part} ...", file=sys.stderr)
            result[part] = load_run(args, 0 if part == "receiver" else 1, templates)
            print(json.dumps(result[part]), file=sys.stderr)
    if "materialize" in parts:
        print(f"otlp: materialize of {args.spans:,} spans ...", file=sys.stderr)
        source, generate_s = spans_file(args.spans, templates)
        result["generate_s"] = round(generate_s, 1) if generate_s is not None else "cached"
        result["materialize"] = materialize_run(source, args.spans, args.keep)
        print(json.dumps(result["materialize"]), file=sys.stderr)
        if "error" in result["materialize"] and 0 < args.fallback_spans < args.spans:
            print(f"otlp: materialize of the first {args.fallback_spans:,} spans ...", file=sys.stderr)
            result["materialize_fallback"] = materialize_run(source, args.fallback_spans, args.keep)
            print(json.dumps(result["materialize_fallback"]), file=sys.stderr)
    result["targets"] = {"spans_per_s": TARGET_SPANS_PER_S}
    result["machine"] = machine()
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
