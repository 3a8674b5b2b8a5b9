/* escalations → escalation: a run handed from one model to another; passed when it recovered. */
-- stream: escalations
-- kind: escalation
-- key: run_id, ts
-- fields: to_model string, reason text
-- moved: run_id string, task_id string, from_model string, recovered boolean
SELECT
    line_no,
    run_id,
    task_id,
    from_model AS model,
    lh_join(': ', ['escalated from ' || from_model || ' to ' || to_model, reason]) AS text,
    recovered AS passed
FROM source
