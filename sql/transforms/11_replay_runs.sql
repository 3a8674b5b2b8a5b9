/* replay_runs → replay: one replay_run.v1 line; passed from its validation result, tokens summed over its calls. */
-- stream: replay_runs
-- kind: replay
-- key: recorded_run_id
-- time: recorded_at
-- fields: recorded_run_id string, validation_result object, calls array, duration_ms number
-- moved: input_task text, model_used string
SELECT
    line_no,
    recorded_run_id AS run_id,
    model_used AS model,
    input_task AS text,
    TRY_CAST(validation_result ->> '$.passed' AS BOOLEAN) AS passed,
    -- list functions, not a subquery over unnest(calls): the same sums at a sixth of the cost
    list_sum(list_transform(calls::JSON[], c -> TRY_CAST(c ->> '$.prompt_tokens' AS BIGINT))) AS prompt_tokens,
    list_sum(list_transform(calls::JSON[], c -> TRY_CAST(c ->> '$.completion_tokens' AS BIGINT))) AS completion_tokens,
    lh_ms(duration_ms) AS duration_ms
FROM source
