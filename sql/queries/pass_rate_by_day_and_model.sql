/* Replay pass rate by day and the model that gave the final answer. */
SELECT
    day,
    model_used AS model,
    count(*) AS runs,
    count(*) FILTER (WHERE validation_result.passed) AS passed,
    round(count(*) FILTER (WHERE validation_result.passed) / count(*), 4) AS pass_rate
FROM replay_runs
GROUP BY day, model_used
ORDER BY day, model
