"""Shared bits of the benchmarks: machine description, timing, child RSS."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb
    import pyarrow

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
    }


def run_child(args: list[str], **kwargs: Any) -> dict[str, Any]:
    """Run a child process; return wall seconds, peak RSS (MiB), exit code and output."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    return {
        "seconds": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "returncode": os.waitstatus_to_exitcode(status),
        "stdout": out.decode(),
        "stderr": err.decode(),
    }


def lakehouse_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lakehouse", *args]


def self_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def query_p50_ms(con: Any, sql: str, repeat: int) -> float:
    """Median wall time of running ``sql`` to completion ``repeat`` times on ``con``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        con.execute(sql).to_arrow_table()  # to completion; Arrow, since Python needs pytz for TIMESTAMPTZ
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)
