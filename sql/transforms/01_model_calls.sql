/* model_calls → model_call: one record per model call; passed when status is "ok". */
-- stream: model_calls
-- kind: model_call
-- key: call_id
-- fields: call_id string, task text, status string, error text
-- moved: run_id string, task_id string, model string, prompt_tokens integer, completion_tokens integer, latency_ms number
SELECT
    line_no,
    run_id,
    task_id,
    model,
    lh_join(' — ', [task, 'status: ' || status, error]) AS text,
    status = 'ok' AS passed,
    prompt_tokens,
    completion_tokens,
    lh_ms(latency_ms) AS duration_ms,
    lh_tags(['status:' || status]) AS tags
FROM source
