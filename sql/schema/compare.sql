/* Compare two labels' runs in SQL (lakehouse compare, and analysts: SELECT * FROM compare_runs('base', 'candidate')). */
-- {{scope}}: empty in the catalog (analysts use the macros); 'TEMP ' on a lake session (read-only).

-- One row per task run under both labels, paired by task_hash: the latest run of the task on each side.
-- change: 'regression' (passed in base, not in candidate), 'fix' (the reverse) or 'same'.
CREATE OR REPLACE {{scope}}MACRO compare_runs(base, candidate) AS TABLE
WITH costs AS (  -- a run's cost: its calls' cost_usd summed; NULL when a call with tokens has no price
    SELECT
        recorded_run_id,
        CASE WHEN bool_or(cost_usd IS NULL AND (prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL))
             THEN NULL ELSE sum(cost_usd) END AS cost_usd
    FROM replay_calls
    WHERE recorded_run_id IN (SELECT recorded_run_id FROM replay_runs WHERE label = base OR label = candidate)
    GROUP BY recorded_run_id
),
latest AS (
    SELECT
        label,
        task_hash,
        count(*) AS runs_of_task,
        arg_max(
            {'recorded_run_id': recorded_run_id, 'input_task': input_task,
             'passed': coalesce(validation_result.passed, false), 'reasons': validation_result.reasons,
             'rag_ids': retrieved_artifacts.rag_ids, 'model_response': model_response,
             'escalated': len(escalation_path) > 1, 'duration_ms': duration_ms,
             'tokens': TRY_CAST(list_sum(list_transform(calls, c -> coalesce(c.prompt_tokens, 0)::HUGEINT + coalesce(c.completion_tokens, 0))) AS BIGINT),
             'corpus_version': provenance ->> 'corpus_version', 'cost_usd': costs.cost_usd},
            (recorded_at, recorded_run_id)
        ) AS r
    FROM replay_runs
    LEFT JOIN costs USING (recorded_run_id)
    WHERE label = base OR label = candidate
    GROUP BY label, task_hash
),
b AS (SELECT task_hash, runs_of_task, unnest(r) FROM latest WHERE label = base),
c AS (SELECT task_hash, runs_of_task, unnest(r) FROM latest WHERE label = candidate)
SELECT
    b.task_hash,
    b.input_task,
    b.recorded_run_id AS base_run,
    c.recorded_run_id AS candidate_run,
    b.passed AS base_passed,
    c.passed AS candidate_passed,
    CASE WHEN b.passed AND NOT c.passed THEN 'regression'
         WHEN c.passed AND NOT b.passed THEN 'fix'
         ELSE 'same' END AS change,
    CASE WHEN len(list_distinct(list_concat(b.rag_ids, c.rag_ids))) = 0 THEN CAST(1 AS DOUBLE)
         ELSE len(list_intersect(list_distinct(b.rag_ids), list_distinct(c.rag_ids)))
              / len(list_distinct(list_concat(b.rag_ids, c.rag_ids))) END AS retrieval_jaccard,
    b.model_response IS DISTINCT FROM c.model_response AS answer_changed,
    [b.escalated, c.escalated] AS escalated,
    CAST(coalesce(c.tokens, 0) - coalesce(b.tokens, 0) AS BIGINT) AS tokens_delta,
    c.duration_ms - b.duration_ms AS latency_delta_ms,
    c.reasons AS candidate_reasons,
    b.cost_usd AS base_cost_usd,
    c.cost_usd AS candidate_cost_usd,
    c.cost_usd - b.cost_usd AS cost_delta_usd,
    b.runs_of_task AS base_runs_of_task,
    c.runs_of_task AS candidate_runs_of_task,
    b.corpus_version AS base_corpus_version,
    c.corpus_version AS candidate_corpus_version
FROM b JOIN c USING (task_hash);

-- The comparison in one row: counts, pass rates, the paired difference with a 95 % interval, McNemar's exact p.
-- ci95: normal approximation for paired proportions, d = (fixes - regressions) / n,
--   se = sqrt(fixes + regressions - (fixes - regressions)^2 / n) / n, [d - 1.96 se, d + 1.96 se].
-- cost: over the pairs priced on both sides (priced_pairs), each side's total and the mean paired difference
--   per task with a normal 95 % interval (mean +- 1.96 sd / sqrt(n)); NULL without two priced pairs.
-- mcnemar_p: exact two-sided binomial test on the discordant pairs (m = fixes + regressions, k = the smaller):
--   min(1, 2 * sum_{i <= k} C(m, i) / 2^m); 1 when there are none.
CREATE OR REPLACE {{scope}}MACRO compare_summary(base, candidate) AS TABLE
WITH p AS (SELECT * FROM compare_runs(base, candidate)),
s AS (
    SELECT
        count(*) AS pairs,
        count(*) FILTER (WHERE change = 'regression') AS regressions,
        count(*) FILTER (WHERE change = 'fix') AS fixes,
        count(*) FILTER (WHERE change = 'same' AND base_passed) AS unchanged_pass,
        count(*) FILTER (WHERE change = 'same' AND NOT base_passed) AS unchanged_fail,
        CAST(avg(CASE WHEN base_passed THEN 1 ELSE 0 END) AS DOUBLE) AS base_pass_rate,
        CAST(avg(CASE WHEN candidate_passed THEN 1 ELSE 0 END) AS DOUBLE) AS candidate_pass_rate,
        count(cost_delta_usd) AS priced_pairs,
        sum(base_cost_usd) FILTER (WHERE cost_delta_usd IS NOT NULL) AS base_cost_usd,
        sum(candidate_cost_usd) FILTER (WHERE cost_delta_usd IS NOT NULL) AS candidate_cost_usd,
        avg(cost_delta_usd) AS cost_delta_usd,
        stddev_samp(cost_delta_usd) AS cost_delta_sd
    FROM p
),
stats AS (
    SELECT
        *,
        candidate_pass_rate - base_pass_rate AS delta,
        CASE WHEN pairs > 0 THEN sqrt(greatest(fixes + regressions - (fixes - regressions) ^ 2 / pairs, 0)) / pairs END AS se,
        fixes + regressions AS discordant,
        least(fixes, regressions) AS smaller
    FROM s
)
SELECT
    pairs, regressions, fixes, unchanged_pass, unchanged_fail, base_pass_rate, candidate_pass_rate, delta,
    [delta - 1.96 * se, delta + 1.96 * se] AS ci95,
    -- rounded to 1e-12 USD: sums in parallel add in any order, and the last bits would differ run to run
    priced_pairs, round(base_cost_usd, 12) AS base_cost_usd, round(candidate_cost_usd, 12) AS candidate_cost_usd,
    round(cost_delta_usd, 12) AS cost_delta_usd,
    CASE WHEN priced_pairs > 1 THEN [round(cost_delta_usd - 1.96 * cost_delta_sd / sqrt(priced_pairs), 12),
                                     round(cost_delta_usd + 1.96 * cost_delta_sd / sqrt(priced_pairs), 12)] END
        AS cost_delta_ci95,
    CASE WHEN discordant = 0 THEN CAST(1 AS DOUBLE)
         ELSE least(CAST(1 AS DOUBLE), 2 * (SELECT sum(exp(lgamma(discordant + 1) - lgamma(i + 1) - lgamma(discordant - i + 1)
                                             - discordant * ln(2)))
                              FROM range(0, smaller + 1) AS t(i))) END AS mcnemar_p
FROM stats;
