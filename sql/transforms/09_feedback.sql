/* feedback → feedback: a person's rating (1–5, scored as rating/5) and comment on a run. */
-- stream: feedback
-- kind: feedback
-- key: feedback_id
-- fields: feedback_id string, rating number, user string
-- moved: run_id string, task_id string, model string, comment text
SELECT
    line_no,
    run_id,
    task_id,
    model,
    comment AS text,
    rating / 5.0 AS score
FROM source
