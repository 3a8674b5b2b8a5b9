"""Run every benchmark and rewrite BENCHMARKS.md with the figures, the machine, the date and the command.

python bench/run_all.py                  # what `make bench` runs
python bench/run_all.py --only vectors   # re-run some; the others' last figures (bench/results.json) are kept
python bench/run_all.py --rewrite        # run nothing: rewrite BENCHMARKS.md (after editing bench/NOTES.md)

Each section says when its figures were measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from lake_sections import lake_commits_section, lake_fleet_section, lake_section
from sections import (
    analytics_section,
    compare_section,
    load_section,
    materialize_section,
    otlp_section,
    regate_section,
    report_section,
    retrieval_quality_section,
    retrieval_section,
    vectors_section,
)

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    ("materialize", [sys.executable, str(HERE / "materialize.py"), "--json"]),
    ("materialize_equal", [sys.executable, str(HERE / "materialize.py"), "--mix", "equal", "--json"]),
    ("retrieval", [sys.executable, str(HERE / "retrieval.py"), "--json"]),
    ("analytics", [sys.executable, str(HERE / "analytics.py"), "--json"]),
    (
        "load",
        [
            sys.executable,
            str(HERE / "load.py"),
            "--concurrency",
            "50",
            "--duration",
            "60",
            "--each-class",
            "10",
            "--json",
        ],
    ),
    (
        "load_stages",
        [
            sys.executable,
            str(HERE / "load.py"),
            "--concurrency",
            "50",
            "--duration",
            "30",
            "--stages",
            "--json",
        ],
    ),
    ("vectors", [sys.executable, str(HERE / "vectors.py"), "--json"]),
    ("compare", [sys.executable, str(HERE / "compare.py"), "--json"]),
    ("retrieval_quality", [sys.executable, str(HERE / "retrieval_quality.py"), "--json"]),
    ("report", [sys.executable, str(HERE / "report.py"), "--json"]),
    ("lake", [sys.executable, str(HERE / "lake.py"), "--json"]),
    ("lake_commits", [sys.executable, str(HERE / "lake_commits.py"), "--json"]),
    # fleet:nice=10: the fleet way with its publishers below the hosts' work (replay latency against lag)
    (
        "lake_fleet",
        [
            sys.executable,
            str(HERE / "lake.py"),
            "--fleet",
            "--ways",
            "local,before,fleet,fleet:nice=10",
            "--json",
        ],
    ),
    ("otlp", [sys.executable, str(HERE / "otlp.py"), "--json"]),
    ("regate", [sys.executable, str(HERE / "regate.py"), "--json"]),
]
RESULTS = HERE / "results.json"  # the last figures of every benchmark, what BENCHMARKS.md is written from


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [name for name, _ in BENCHMARKS]
    parser.add_argument("--only", action="append", choices=names, help="run only this benchmark (repeatable)")
    parser.add_argument(
        "--rewrite", action="store_true", help="run nothing; rewrite BENCHMARKS.md from results"
    )
    args = parser.parse_args()
    if args.rewrite:
        args.only = ["none"]
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    results = {}
    for name, command in BENCHMARKS:
        if args.only and name not in args.only:
            if (
                name in ("materialize_equal", "load_stages", "lake_commits", "lake_fleet")
                and name not in previous
            ):
                continue  # added after the others: its section is left out until it runs
            if name not in previous:
                sys.exit(f"no earlier figures for {name} in {RESULTS}: run it too")
            results[name] = previous[name]
            continue
        print(f"running {name} ...", file=sys.stderr)
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
        results[name]["measured_at"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        print(json.dumps(results[name]), file=sys.stderr)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    machine = next(iter(results.values()))["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python bench/run_all.py`) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        "from `bench/results.json`; each section says when its figures were measured.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; {machine['os']}; "
        f"Python {machine['python']}, DuckDB {machine['duckdb']}, pyarrow {machine['pyarrow']}.",
        "",
    ]
    sections = [
        ("materialize", materialize_section(results["materialize"])),
        *(
            [("materialize_equal", materialize_section(results["materialize_equal"]))]
            if "materialize_equal" in results
            else []
        ),
        ("retrieval", retrieval_section(results["retrieval"])),
        (
            "analytics",
            analytics_section(
                results["analytics"], results["materialize"]["evidence_by_kind_and_day_p50_ms"]
            ),
        ),
        ("load", load_section(results["load"], results.get("load_stages"))),
        ("vectors", vectors_section(results["vectors"])),
        ("retrieval_quality", retrieval_quality_section(results["retrieval_quality"])),
        ("report", report_section(results["report"])),
        ("lake", lake_section(results["lake"])),
    ]
    if "lake_commits" in results:
        sections.append(("lake_commits", lake_commits_section(results["lake_commits"])))
    if "lake_fleet" in results:
        sections.append(("lake_fleet", lake_fleet_section(results["lake_fleet"])))
    if "compare" in results:
        sections.append(("compare", compare_section(results["compare"])))
    if "otlp" in results:
        sections.append(("otlp", otlp_section(results["otlp"])))
    if "regate" in results:
        sections.append(("regate", regate_section(results["regate"])))
    for name, section in sections:
        measured = results[name].get("measured_at", "an earlier run")
        lines += [section[0], "", f"Measured {measured}.", *section[1:]]
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text(encoding="utf-8").rstrip(), ""]
    (HERE.parent / "BENCHMARKS.md").write_text("\n".join(lines), encoding="utf-8")
    print("BENCHMARKS.md rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
