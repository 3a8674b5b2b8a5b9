"""Shared bits of the benchmarks: machine description, timing, child RSS."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This checkout goes first on the benchmark's own path and on the PYTHONPATH of the processes it starts (ahead of
# one the caller set): an installed package left from an older commit once timed the in-process no-op with the
# older SQL, while the CLI children, started from the repository, ran the checkout (the catalog the CLI had
# stamped was rebuilt: 0.3 s instead of 0.16). A child started with `python -m` from another folder still puts
# that folder first (`make bench` runs from the checkout).
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)


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


# Runs the command in a small Python process of its own and reports, on a file, the command's wall seconds
# and peak RSS. A child's peak RSS as wait4 reports it is at least its parent's peak RSS (Python starts a
# child with vfork, and exec records the shared memory's high-water mark): a benchmark that generated a
# million lines first reported its own peak as the child's.
_MEASURED = """
import os, resource, signal, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{seconds} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def run_child(args: list[str], **kwargs: Any) -> dict[str, Any]:
    """Run a child process; return wall seconds, peak RSS (MiB), exit code and output."""
    with tempfile.TemporaryDirectory(prefix="lh-bench-child-") as scratch:
        report = Path(scratch) / "measured"
        wrapped = [sys.executable, "-c", _MEASURED, str(report), *args]
        proc = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
        out, err = proc.communicate()
        seconds, peak_kib = report.read_text().split()
    return {
        "seconds": float(seconds),
        "peak_rss_mib": int(peak_kib) / 1024,
        "returncode": proc.returncode,
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
