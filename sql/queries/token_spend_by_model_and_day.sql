/* Tokens spent per model and day over every model call: replays' calls (escalations included) and traced calls (llm_spans); source says which. */
SELECT
    day,
    source,
    model,
    count(*) AS calls,
    TRY_CAST(coalesce(sum(prompt_tokens), 0) AS BIGINT) AS prompt_tokens,
    TRY_CAST(coalesce(sum(completion_tokens), 0) AS BIGINT) AS completion_tokens,
    TRY_CAST(coalesce(sum(prompt_tokens), 0) + coalesce(sum(completion_tokens), 0) AS BIGINT) AS total_tokens
FROM (
    SELECT day, 'replay' AS source, model, prompt_tokens, completion_tokens FROM replay_calls WHERE spent
    UNION ALL
    SELECT day, 'traced' AS source, model, input_tokens, output_tokens FROM llm_spans
)
GROUP BY day, source, model
ORDER BY day, source, model
