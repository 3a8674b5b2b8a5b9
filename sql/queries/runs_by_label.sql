/* Each label's runs (unlabelled ones as NULL): tasks, pass rate, escalation rate and tokens, newest label first. */
SELECT
    label,
    count(*) AS runs,
    count(DISTINCT task_hash) AS tasks,
    round(avg(CASE WHEN validation_result.passed THEN 1 ELSE 0 END), 4) AS pass_rate,
    round(avg(CASE WHEN len(escalation_path) > 1 THEN 1 ELSE 0 END), 4) AS escalation_rate,
    TRY_CAST(sum(list_sum(list_transform(calls, c -> coalesce(c.prompt_tokens, 0)::HUGEINT + coalesce(c.completion_tokens, 0)))) AS BIGINT)
        AS tokens,
    min(recorded_at) AS first_run,
    max(recorded_at) AS last_run
FROM replay_runs
GROUP BY label
ORDER BY last_run DESC, label
