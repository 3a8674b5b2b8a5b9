/* Tokens spent per model and day, over every model call (escalations included). */
SELECT
    day,
    model,
    count(*) AS calls,
    coalesce(sum(prompt_tokens), 0)::BIGINT AS prompt_tokens,
    coalesce(sum(completion_tokens), 0)::BIGINT AS completion_tokens,
    (coalesce(sum(prompt_tokens), 0) + coalesce(sum(completion_tokens), 0))::BIGINT AS total_tokens
FROM replay_calls
GROUP BY day, model
ORDER BY day, model
