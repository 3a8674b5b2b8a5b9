/* otel_logs → otel_log: one GenAI event log record (prompts, answers, inference details) tied to its trace and span. */
-- stream: otel_logs
-- kind: otel_log
-- key: record_id
-- time: time
-- max_line_bytes: 268435456
-- fields: record_id string, event_name string, resource object
-- moved: trace_id string
SELECT
    line_no,
    trace_id AS run_id,
    event_name || coalesce(' (' || (json_extract_string(resource, '$.attributes."service.name"')) || ')', '') AS text,
    lh_tags([lh_tag('event', event_name), lh_tag('service', json_extract_string(resource, '$.attributes."service.name"'))]) AS tags
FROM source
