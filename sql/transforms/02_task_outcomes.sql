/* task_outcomes → task_outcome: whether a task passed, its score and how long it took. */
-- stream: task_outcomes
-- kind: task_outcome
-- key: task_id, ts
-- fields: task text, notes text
-- moved: task_id string, run_id string, model string, passed boolean, score number, duration_ms number
SELECT
    line_no,
    run_id,
    task_id,
    model,
    lh_join(' — ', [task, notes]) AS text,
    passed,
    score,
    lh_ms(duration_ms) AS duration_ms
FROM source
