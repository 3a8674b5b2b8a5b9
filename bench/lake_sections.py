"""BENCHMARKS.md's sections on the lake, written from bench/results.json (run_all.py): the lake itself,
its commits against publishers, and the fleet."""

from __future__ import annotations

from sections import verdict


def lake_section(r: dict) -> list[str]:
    return [
        "## lake (`bench/lake.py --json`)",
        "",
        "A DuckLake with its catalog in a PostgreSQL cluster and its data on moto's S3 server, both on loopback "
        "(started as the tests start them). Baseline of the same run: `lakehouse materialize` of the same "
        f"{r['lines']:,} lines into a root that has not joined a lake.",
        "",
        "| figure | measured |",
        "|---|---|",
        f"| materialize, local root (baseline) | {r['local_materialize_s']:.2f} s |",
        f"| materialize, joined root (commits, then publishes {r['evidence']:,} evidence rows as pyarrow parts) "
        f"| {r['joined_materialize_s']:.2f} s ({r['ratio_joined_vs_local']:.2f}×; publishing {r['publish_s']:.2f} s) |",
        f"| `lake push` with nothing to publish (the key anti-join over the lake) | {r['push_again_s']:.2f} s |",
        f"| no-op materialize, local root / joined root (its receipt published: attach, one push) "
        f"| {r.get('noop_materialize_local_s', float('nan')):.2f} s / {r.get('noop_materialize_joined_s', float('nan')):.2f} s |",
        f"| {r['hosts']} processes replaying {r['runs_per_host']} runs each into one lake at once, each run published "
        f"| {r['runs_per_s']:.2f} runs/s; publish p50 {r['publish_p50_ms']:,.0f} ms, p95 {r['publish_p95_ms']:,.0f} ms |",
        f"| runs in the lake after / rows any host still lacks there | {r['shared_runs_in_lake']:,} / {r['missing_after']} |",
        "",
    ]


def lake_fleet_section(r: dict) -> list[str]:
    ways = r["ways"]
    local, before, fleet = ways["local"], ways["before"], ways["fleet"]
    # the fleet way on earlier trees (fleet@REV) or with its publishers niced (fleet:nice=N)
    others = [name for name in ways if name.startswith(("fleet@", "fleet:"))]
    columns = [local, before, *(ways[name] for name in others), fleet]

    def lag(w: dict) -> str:
        return f"{w['lag_p50_s']:.1f} / {w['lag_p95_s']:.1f} s"

    def row(name: str, pick) -> str:
        return f"| {name} | {' | '.join(pick(w) for w in columns)} |"

    return [
        "## lake fleet (`bench/lake.py --fleet --json`)",
        "",
        f"{r['hosts']} hosts (roots), each a worker process replaying dry-run tasks one after another for "
        f"{r['seconds']:g} s (each run mirrored, and published or handed over, as `lakehouse replay` does) and "
        "materializing 20 new lines every 5 replays; PostgreSQL and moto's S3 on loopback; everything shares "
        f"this machine's two cores. `before`: the lakehouse of {r['before']} (each writer publishes in the one "
        f"turn of the fleet before it returns); `fleet`: this tree, a `lakehouse lake publisher` per host "
        f"(interval {r['interval_s']:g} s), appends without a lock. Lag: from a run's line in its log to an "
        "analyst polling the lake every 0.25 s first seeing it (`before`: the replay returns only once its run "
        "is published, so its lag is inside its latency)."
        + "".join(f" `{name}`: {_other_way(name)}." for name in others),
        "",
        f"| figure | local (no lake) | before | {''.join(f'{name} | ' for name in others)}fleet |",
        "|---|---|---|" + "---|" * len(others) + "---|",
        row("replays done (per s)", lambda w: f"{w['replays']:,} ({w['replays_per_s']:.1f}/s)"),
        row("replay p50 / p95", lambda w: f"{w['replay_p50_ms']:,.0f} / {w['replay_p95_ms']:,.0f} ms"),
        row("lines materialized", lambda w: f"{w['lines']:,}"),
        row(
            "work without the lake against this way (≤ 1.5×)",
            lambda w: f"{local['replays'] / max(w['replays'], 1):.2f}×",
        ),
        row(
            "replay p50 minus local's (≤ 50 ms)",
            lambda w: f"{w['replay_p50_ms'] - local['replay_p50_ms']:+,.0f} ms",
        ),
        row(
            "rows in the lake at the window's end (per s)",
            lambda w: f"{w['rows_published']:,} ({w['rows_per_s']:.1f}/s)" if "rows_per_s" in w else "–",
        ),
        row(
            "rows of the window's work, all published (per s until the last seen)",
            lambda w: (
                f"{w['rows_published_all']:,} ({w['rows_per_s_all']:.1f}/s)" if "rows_per_s_all" in w else "–"
            ),
        ),
        row("lake commits/s", lambda w: f"{w['commits_per_s']:.1f}" if "commits_per_s" in w else "–"),
        row(
            "conflicts retried / publishers that gave up",
            lambda w: (
                f"{w['conflicts_retried']} / {w['publishers_gave_up']}" if "conflicts_retried" in w else "–"
            ),
        ),
        row("lag p50 / p95", lambda w: lag(w) if w.get("lag_p50_s") is not None else "–"),
        row(
            "CPU s: workers / publishers",
            lambda w: (
                f"{w['worker_cpu_s']:.0f} / {w['publisher_cpu_s']:.0f}"
                if "publisher_cpu_s" in w
                else f"{w.get('worker_cpu_s', 0):.0f} / –"
            ),
        ),
        row(
            "CPU s in the window: publishers / PostgreSQL / S3 / the observer",
            lambda w: (
                f"{w['publishers_cpu_s']:.0f} / {w['postgres_cpu_s']:.1f} / {w['s3_cpu_s']:.1f} / "
                f"{w['observer_cpu_s']:.1f}"
                if "postgres_cpu_s" in w
                else "–"
            ),
        ),
        row("lake pushes", lambda w: f"{w['pushes']:,}" if w.get("pushes") else "–"),
        row("writers' warnings (catalog mirror behind)", lambda w: f"{w['warnings']}"),
        row(
            "runs never seen in the lake",
            lambda w: f"{w['runs_not_in_lake']}" if "runs_not_in_lake" in w else "–",
        ),
        "",
        f"Rows/s, fleet against before: {r['rows_per_s_ratio']:.1f}× at the window's end, "
        f"{fleet['rows_per_s_all'] / max(before['rows_per_s_all'], 0.1):.1f}× for the window's work all published. The work done without the lake "
        f"against with it (fleet): {r['work_local_vs_fleet']:.2f}× (≤ 1.5× is the target); a replay's p50, "
        f"fleet minus local: {r['replay_p50_fleet_minus_local_ms']:+.0f} ms. Files after the fleet's run: "
        f"{fleet['files_before_maintain']:,} data files and {fleet['objects_before_maintain']:,} objects, "
        f"{fleet['files_after_maintain']:,} and {fleet['objects_after_maintain']:,} after `lakehouse lake maintain "
        f"--keep-snapshots 0 --file-grace 0` ({fleet['hidden_rows_deleted']:,} hidden rows deleted; it expires "
        "and deletes before it merges, so the files it merged away are deleted by the next maintenance"
        + (
            f": {fleet['objects_after_second_maintain']:,} objects after a second one)."
            if "objects_after_second_maintain" in fleet
            else ")."
        ),
        "",
    ]


def _other_way(name: str) -> str:
    if name.startswith("fleet:nice="):
        return f"the fleet way, its publishers run with `--nice {name.removeprefix('fleet:nice=')}`"
    return f"the fleet way with the lakehouse of {name.removeprefix('fleet@')}"


def lake_commits_section(r: dict) -> list[str]:
    rows = {(row["mode"], row["publishers"]): row for row in r["rows"]}
    counts = sorted({row["publishers"] for row in r["rows"]})

    def cell(mode: str, count: int) -> str:
        row = rows.get((mode, count))
        if row is None:
            return "–"
        extra = f"; {row['gave_up']} gave up" if row["gave_up"] else ""
        return (
            f"{row['commits_per_s']:,.1f}/s, p50 {row['commit_p50_ms'] or 0:,.0f} ms, "
            f"{row['conflicts']:,} conflicts{extra}"
        )

    return [
        "## lake commits against publishers (`bench/lake_commits.py --json`)",
        "",
        f"Publisher processes, each with one lake session, committing one small append after another for "
        f"{r['seconds']:g} s into one DuckLake (PostgreSQL catalog and moto's S3 on loopback, sharing this "
        "machine's two cores with the publishers). `turn`: each commit first takes the publishers' turn "
        "(the one row of `lake_lock`, retried after a pause on conflict, as `lake push` does); `append`: "
        "the same append without it.",
        "",
        "| publishers | turn (today's push) | append, no turn |",
        "|---|---|---|",
        *(f"| {count} | {cell('turn', count)} | {cell('append', count)} |" for count in counts),
        "",
        *_replay_latency(r),
    ]


def _replay_latency(r: dict) -> list[str]:
    if "replay_local_p50_ms" not in r:
        return []
    local = r["replay_local_p50_ms"]
    handed = r["replay_handed_off_p50_ms"]
    within = r["handed_off_published_within_s"]
    return [
        f"A dry-run `lakehouse replay` as a whole CLI process, median of {r['replays']} in each kind of root "
        "(alternated; each timed after the publisher's last push):",
        "",
        "| root | replay p50 | target | |",
        "|---|---|---|---|",
        f"| local (not joined) | {local:,.0f} ms | baseline | |",
        f"| joined, the replay publishing its run itself | {r['replay_joined_p50_ms']:,.0f} ms | | |",
        f"| joined, handed to a running `lakehouse lake publisher` (interval 1 s) | {handed:,.0f} ms "
        f"| ≤ local + 50 ms | {verdict(handed <= local + 50)} |",
        f"| the last handed-over run in the lake after | {within if within is not None else 'over 30'} s "
        "| lag p95 ≤ 10 s | |",
        "",
    ]
