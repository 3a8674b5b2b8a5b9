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
import http.client
import json
import multiprocessing
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import lakehouse_cmd, machine
from otlp_materialize import materialize_run, per_batch_costs, spans_file
from otlp_spans import BATCH_SPANS, TEMPLATES, numbered, template

EXPORTERS = 4
TARGET_SPANS_PER_S = 20_000
MAX_REQUESTS = 200_000  # per exporter: a bound on the loop besides its deadline


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
