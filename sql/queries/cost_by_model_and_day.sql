/* What each model cost per day, from the price table (data/prices.csv): replays' calls, traced calls and logged model calls (model_call evidence); unpriced_calls had tokens but no price (their cost is unknown, not 0). */
SELECT
    day,
    source,
    model,
    count(*) AS calls,
    count(*) FILTER (WHERE cost_usd IS NULL AND (prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL)) AS unpriced_calls,
    TRY_CAST(coalesce(sum(prompt_tokens), 0) AS BIGINT) AS prompt_tokens,
    TRY_CAST(coalesce(sum(completion_tokens), 0) AS BIGINT) AS completion_tokens,
    round(sum(cost_usd), 6) AS cost_usd
FROM (
    SELECT day, 'replay' AS source, model, prompt_tokens, completion_tokens, cost_usd FROM replay_calls WHERE spent
    UNION ALL
    SELECT day, 'traced' AS source, model, input_tokens, output_tokens, cost_usd FROM llm_spans
    UNION ALL
    SELECT day, 'logged' AS source, model, prompt_tokens, completion_tokens, cost_usd FROM model_call_evidence
)
GROUP BY day, source, model
ORDER BY day, source, model
