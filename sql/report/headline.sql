/* The report's headline figures in one row: runs, pass and escalation rates, recovery, tokens, traced model calls and their tokens, cost and calls without a price, evidence, open quarantine. */
WITH priced AS (  -- every model call with a cost: replays', traced and logged ones (cost_by_model_and_day's)
    SELECT cost_usd, prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL AS has_tokens FROM replay_calls WHERE spent
    UNION ALL
    SELECT cost_usd, input_tokens IS NOT NULL OR output_tokens IS NOT NULL FROM llm_spans
    UNION ALL
    SELECT cost_usd, prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL FROM model_call_evidence
)
SELECT
    (SELECT count(*) FROM replay_runs) AS runs,
    (SELECT avg(CASE WHEN validation_result.passed THEN 1 ELSE 0 END) FROM replay_runs) AS pass_rate,
    (SELECT avg(CASE WHEN len(escalation_path) > 1 THEN 1 ELSE 0 END) FROM replay_runs) AS escalation_rate,
    (SELECT avg(CASE WHEN validation_result.passed THEN 1 ELSE 0 END) FROM replay_runs WHERE len(escalation_path) > 1)
        AS recovery_rate,
    (SELECT TRY_CAST(coalesce(sum(coalesce(prompt_tokens, 0)::HUGEINT + coalesce(completion_tokens, 0)), 0) AS BIGINT) FROM replay_calls WHERE spent)
        AS tokens,
    (SELECT count(*) FROM llm_spans) AS traced_calls,
    (SELECT TRY_CAST(coalesce(sum(coalesce(input_tokens, 0)::HUGEINT + coalesce(output_tokens, 0)), 0) AS BIGINT) FROM llm_spans)
        AS traced_tokens,
    (SELECT round(sum(cost_usd), 9) FROM priced) AS cost_usd,  -- rounded: parallel sums differ in the last bits
    (SELECT count(*) FILTER (WHERE cost_usd IS NULL AND has_tokens) FROM priced) AS unpriced_calls,
    (SELECT count(*) FROM evidence) AS evidence_records,
    (SELECT count(*) FROM quarantine WHERE resolved_receipt_id IS NULL) AS open_quarantine,
    (SELECT strftime(min(day), '%Y-%m-%d') FROM replay_runs) AS first_day,
    (SELECT strftime(max(day), '%Y-%m-%d') FROM replay_runs) AS last_day
