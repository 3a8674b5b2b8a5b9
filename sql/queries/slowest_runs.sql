/* The 20 slowest replay runs, with their model, outcome and task. */
SELECT
    recorded_run_id,
    day,
    duration_ms,
    model_used AS model,
    validation_result.passed AS passed,
    len(calls) AS calls,
    left(input_task, 80) AS task
FROM replay_runs
ORDER BY duration_ms DESC, recorded_run_id
LIMIT 20
