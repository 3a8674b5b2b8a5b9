/* incidents → incident: an operational incident, tagged with its severity. */
-- stream: incidents
-- kind: incident
-- key: incident_id, ts
-- fields: incident_id string, resolved_at string, service string
-- moved: run_id string, task_id string, severity string, summary text
SELECT
    line_no,
    run_id,
    task_id,
    summary AS text,
    lh_tags([lh_tag('severity', severity)]) AS tags
FROM source
