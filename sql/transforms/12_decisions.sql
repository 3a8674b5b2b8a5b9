/* decisions → decision: an architecture or process decision at one status. */
-- stream: decisions
-- kind: decision
-- key: decision_id, status
-- fields: decision_id string, status string, title text, rationale text, owner string
-- moved: run_id string, task_id string
SELECT
    line_no,
    run_id,
    task_id,
    lh_join(' — ', [title, rationale]) AS text,
    lh_tags([lh_tag('status', status)]) AS tags
FROM source
