/* One SQL gate over many runs: each row the gate returns for a run is a reason that run fails ({{gate}} is the gate's SELECT over the one-row relation run). */
SELECT r.idx, CAST(g.reason AS VARCHAR) AS reason
FROM runs AS r, LATERAL (
    WITH run AS (
        SELECT r.task AS task, r.response AS response, r.rag_ids AS rag_ids, r.model AS model,
               r.prompt_tokens AS prompt_tokens, r.completion_tokens AS completion_tokens,
               r.latency_ms AS latency_ms, r.recorded_response AS recorded_response
    )
    SELECT reason FROM (
{{gate}}
    )
) AS g
ORDER BY r.idx, reason
