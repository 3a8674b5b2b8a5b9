/* Models with calls that have tokens but no price (their cost_usd is NULL): replays' calls and traced calls. */
SELECT model, count(*) AS calls
FROM (
    SELECT model FROM replay_calls WHERE spent AND cost_usd IS NULL AND (prompt_tokens IS NOT NULL OR completion_tokens IS NOT NULL)
    UNION ALL
    SELECT model FROM llm_spans WHERE cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
)
WHERE model IS NOT NULL
GROUP BY model
ORDER BY calls DESC, model
