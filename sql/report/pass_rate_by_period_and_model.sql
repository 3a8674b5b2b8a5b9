/* Replay pass rate by day and final model, rolled up by week when the days are sparse (fewer than 10 runs a point): a line people can read, not a zigzag. */
WITH density AS (
    SELECT count(*) / greatest(count(DISTINCT (day, model_used)), 1) AS runs_per_point FROM replay_runs
)
SELECT
    CASE WHEN runs_per_point < 10 THEN CAST(date_trunc('week', day) AS DATE) ELSE day END AS period,
    CASE WHEN runs_per_point < 10 THEN 'week' ELSE 'day' END AS bucket,
    model_used AS model,
    count(*) AS runs,
    count(*) FILTER (WHERE validation_result.passed) AS passed,
    round(count(*) FILTER (WHERE validation_result.passed) / count(*), 4) AS pass_rate
FROM replay_runs, density
GROUP BY ALL
ORDER BY period, model
