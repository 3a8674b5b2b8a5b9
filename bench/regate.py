"""Re-judging history: `lakehouse regate` over 100,000 recorded runs (issue 29).

Writes N synthetic replay_run.v1 lines under the label `base` (answers of 200 to 2,000 characters,
a fifth of them JSON, some naming an internal host, a fifth escalated), syncs the catalog (timed
apart), then times, each as a whole CLI process (reading the log, judging, appending the new runs,
mirroring them into the catalog):

  builtin   lakehouse regate --label base --as builtin        (the four built-in gates, in Python)
  sql       lakehouse regate --label base --gates DIR --as sql (the built-in ones and four SQL gates:
            JSON validity, a JSON path, a regex, a length budget; one DuckDB statement a gate)

and `lakehouse compare base sql` after it. No model is called (there is no gateway).

    python bench/regate.py --runs 100000 --json
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
from common import lakehouse_cmd, machine, run_child

from lakehouse import catalog
from lakehouse.core.paths import open_root

GATES = {
    "valid_json.sql": (
        "/* An answer that starts as JSON is valid JSON. */\nSELECT 'invalid JSON' AS reason FROM run "
        "WHERE starts_with(ltrim(response), '{') AND NOT json_valid(response)"
    ),
    "status.sql": (
        "/* A JSON answer has a status. */\nSELECT 'no $.status' AS reason FROM run "
        "WHERE json_valid(response) AND json_extract(response, '$.status') IS NULL"
    ),
    "hosts.sql": (
        "/* No internal hostnames. */\nSELECT 'internal hostname' AS reason FROM run "
        "WHERE regexp_matches(response, '[a-z0-9-]+\\.corp\\.internal')"
    ),
    "short.sql": (
        "/* At most 200 words. */\nSELECT 'over 200 words' AS reason FROM run "
        "WHERE len(string_split(response, ' ')) > 200"
    ),
}
WORDS = [
    "restart",
    "the",
    "worker",
    "then",
    "check",
    "the",
    "queue",
    "depth",
    "and",
    "roll",
    "back",
    "the",
    "deploy",
    "if",
    "errors",
    "persist",
]


def run_line(i: int, rng: random.Random) -> str:
    task = f"task number {i}"
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 300)))
    if rng.random() < 0.2:
        response = json.dumps({"status": "ok", "steps": words} if rng.random() < 0.7 else {"steps": words})
    else:
        response = f"{words} [rag:p{i % 40}]" + (" see db-3.corp.internal" if rng.random() < 0.05 else "")
    path = ["m"] if rng.random() < 0.8 else ["m", "big"]
    calls = [
        {
            "model": m,
            "ok": True,
            "error": None,
            "latency_ms": rng.randint(50, 4000),
            "prompt_tokens": rng.randint(300, 3000),
            "completion_tokens": rng.randint(20, 400),
            "gate_reasons": [],
        }
        for m in path
    ]
    second = i % 86400
    record = {
        "schema": "replay_run.v1",
        "input_task": task,
        "task_hash": f"{i:064x}",
        "retrieved_artifacts": {"rag_ids": [f"rag:p{i % 40}"]},
        "context_bundle": {"task": task, "retrieved_playbooks": [{"rag_id": f"rag:p{i % 40}"}]},
        "model_response": response[:4000],
        "model_used": path[-1],
        "escalation_path": path,
        "validation_result": {
            "passed": True,
            "reasons": [] if len(path) == 1 else ["recovered via escalation to big"],
        },
        "recorded_run_id": f"replay:{i:016x}:{i:012x}",
        "recorded_at": f"2026-12-01T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{i:09d}Z"[
            :30
        ],
        "duration_ms": sum(c["latency_ms"] for c in calls),
        "calls": calls,
        "provenance": {"label": "base", "corpus_version": "c1", "gates_version": "gates.v1", "options": {}},
    }
    return json.dumps(record)


def timed(args: list[str]) -> dict:
    child = run_child(args)
    if child["returncode"] != 0:
        raise SystemExit(f"{' '.join(args)} failed: {child['stderr']}")
    return child


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(29)
    work = Path(tempfile.mkdtemp(prefix="lh-regate-"))
    root = work / "root"
    root.mkdir()
    layout = open_root(root, create=True)
    with layout.replay_runs.open("w") as log:
        for i in range(args.runs):
            log.write(run_line(i, rng) + "\n")
    log_mib = layout.replay_runs.stat().st_size / 2**20
    start = time.perf_counter()
    catalog.sync(layout)
    sync_s = time.perf_counter() - start
    gates = work / "gates"
    gates.mkdir()
    for name, text in GATES.items():
        (gates / name).write_text(text)
    builtin = timed(lakehouse_cmd("regate", "--label", "base", "--as", "builtin", "--root", str(root)))
    sql = timed(
        lakehouse_cmd("regate", "--label", "base", "--gates", str(gates), "--as", "sql", "--root", str(root))
    )
    start = time.perf_counter()  # subprocess.run reads the JSON while the child writes it (a pipe fills)
    compared = subprocess.run(
        lakehouse_cmd("compare", "base", "sql", "--format", "json", "--root", str(root)),
        capture_output=True,
        check=True,
    )
    compare_s = time.perf_counter() - start
    report = json.loads(compared.stdout)
    result = {
        "benchmark": "regate",
        "runs": args.runs,
        "log_mib": round(log_mib, 1),
        "sync_s": round(sync_s, 2),
        "builtin_s": round(builtin["seconds"], 2),
        "builtin_rss_mib": round(builtin["peak_rss_mib"]),
        "sql_gates_s": round(sql["seconds"], 2),
        "sql_gates_rss_mib": round(sql["peak_rss_mib"]),
        "sql_gates": len(GATES),
        "now_fail": report["regressions"],
        "compare_s": round(compare_s, 2),
        "summary": sql["stderr"].strip().splitlines()[0],
        "machine": machine(),
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
