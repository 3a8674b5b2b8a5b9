/* How often each local model's runs escalated, and how often escalation recovered them. */
SELECT
    escalation_path[1] AS local_model,
    count(*) AS runs,
    count(*) FILTER (WHERE len(escalation_path) > 1) AS escalated,
    round(count(*) FILTER (WHERE len(escalation_path) > 1) / count(*), 4) AS escalation_rate,
    count(*) FILTER (WHERE len(escalation_path) > 1 AND validation_result.passed) AS recovered,
    round(
        count(*) FILTER (WHERE len(escalation_path) > 1 AND validation_result.passed)
        / nullif(count(*) FILTER (WHERE len(escalation_path) > 1), 0),
        4
    ) AS recovery_rate
FROM replay_runs
GROUP BY local_model
ORDER BY runs DESC, local_model
