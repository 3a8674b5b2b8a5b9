/* Replay runs per day, passed or not. */
SELECT
    day,
    CASE WHEN validation_result.passed THEN 'passed' ELSE 'not passed' END AS outcome,
    count(*) AS runs
FROM replay_runs
GROUP BY ALL
ORDER BY day, outcome
