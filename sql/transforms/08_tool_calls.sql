/* tool_calls → tool_call: one call of a tool by an agent; passed when it returned ok. */
-- stream: tool_calls
-- kind: tool_call
-- key: call_id
-- fields: call_id string, args object, error text
-- moved: run_id string, task_id string, model string, tool string, ok boolean, duration_ms number
SELECT
    line_no,
    run_id,
    task_id,
    model,
    lh_join(' — ', [tool || CASE WHEN ok THEN ' ok' WHEN NOT ok THEN ' failed' ELSE '' END, error]) AS text,
    ok AS passed,
    lh_ms(duration_ms) AS duration_ms,
    lh_tags([lh_tag('tool', tool)]) AS tags
FROM source
