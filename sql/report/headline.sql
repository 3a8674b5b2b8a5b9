/* The report's headline figures in one row: runs, pass and escalation rates, recovery, tokens, traced model calls and their tokens, evidence, open quarantine. */
SELECT
    (SELECT count(*) FROM replay_runs) AS runs,
    (SELECT avg(CASE WHEN validation_result.passed THEN 1 ELSE 0 END) FROM replay_runs) AS pass_rate,
    (SELECT avg(CASE WHEN len(escalation_path) > 1 THEN 1 ELSE 0 END) FROM replay_runs) AS escalation_rate,
    (SELECT avg(CASE WHEN validation_result.passed THEN 1 ELSE 0 END) FROM replay_runs WHERE len(escalation_path) > 1)
        AS recovery_rate,
    (SELECT coalesce(sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)), 0)::BIGINT FROM replay_calls)
        AS tokens,
    (SELECT count(*) FROM llm_spans) AS traced_calls,
    (SELECT coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)), 0)::BIGINT FROM llm_spans)
        AS traced_tokens,
    (SELECT count(*) FROM evidence) AS evidence_records,
    (SELECT count(*) FROM quarantine WHERE resolved_receipt_id IS NULL) AS open_quarantine,
    (SELECT strftime(min(day), '%Y-%m-%d') FROM replay_runs) AS first_day,
    (SELECT strftime(max(day), '%Y-%m-%d') FROM replay_runs) AS last_day
