"""Compare over 100,000 paired runs: `lakehouse compare base candidate --format json`, end to end.

Target (PRODUCT.md §9): ≤ 2 s end to end (a whole CLI process, catalog already synced). The runs are
synthetic replay_run.v1 lines, one per task under each of two labels, with ~5 % of the tasks
changing outcome each way; the catalog is synced first (timed separately).

    python bench/compare.py --pairs 100000 --json
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import lakehouse_cmd, machine

from lakehouse import catalog
from lakehouse.core.paths import open_root

TARGET_S = 2.0


def run_line(label: str, task: int, passed: bool, second: int, rng: random.Random) -> str:
    task_hash = f"{task:064x}"
    at = f"2026-05-01T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{task % 1000000:06d}Z"
    record = {
        "schema": "replay_run.v1",
        "input_task": f"task number {task}",
        "task_hash": task_hash,
        "retrieved_artifacts": {"rag_ids": [f"rag:p{task % 40}", f"rag:p{rng.randint(0, 39)}"]},
        "context_bundle": None,
        "model_response": f"answer {rng.randint(0, 3)} citing [rag:p{task % 40}]",
        "model_used": "m",
        "escalation_path": ["m"] if rng.random() < 0.8 else ["m", "big"],
        "validation_result": {
            "passed": passed,
            "reasons": [] if passed else ["response cites no retrieved rag_id"],
        },
        "recorded_run_id": f"replay:{task_hash[:16]}:{label}{task:07d}",
        "recorded_at": at,
        "duration_ms": rng.randint(200, 4000),
        "calls": [
            {
                "model": "m",
                "ok": True,
                "error": None,
                "latency_ms": 100,
                "prompt_tokens": rng.randint(300, 3000),
                "completion_tokens": 50,
            }
        ],
        "provenance": {"label": label, "corpus_version": "c1"},
    }
    return json.dumps(record)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed compare runs (the median is reported)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    root = Path(tempfile.mkdtemp(prefix="lh-compare-")) / "root"
    root.mkdir(parents=True)
    layout = open_root(root, create=True)
    with layout.replay_runs.open("w") as log:
        for task in range(args.pairs):
            base = rng.random() < 0.8
            candidate = (not base) if rng.random() < 0.06 else base
            log.write(run_line("base", task, base, task % 86400, rng) + "\n")
            log.write(run_line("candidate", task, candidate, (task + 40000) % 86400, rng) + "\n")
    start = time.perf_counter()
    catalog.sync(layout)
    sync_s = time.perf_counter() - start
    walls = []
    report: dict = {}
    for _ in range(args.repeat):
        # subprocess.run reads the ~40 MB of JSON while the child writes it (a wait first would deadlock)
        start = time.perf_counter()
        child = subprocess.run(
            lakehouse_cmd("compare", "base", "candidate", "--format", "json", "--root", str(root)),
            capture_output=True,
            check=False,
        )
        walls.append(time.perf_counter() - start)
        if child.returncode != 0:
            raise SystemExit(f"compare failed: {child.stderr.decode()}")
        report = json.loads(child.stdout)
    result = {
        "benchmark": "compare",
        "pairs": report["pairs"],
        "regressions": report["regressions"],
        "fixes": report["fixes"],
        "sync_s": round(sync_s, 2),
        "compare_s": round(sorted(walls)[len(walls) // 2], 3),
        "compare_runs_s": [round(w, 3) for w in walls],
        "targets": {"compare_s": TARGET_S},
        "machine": machine(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
