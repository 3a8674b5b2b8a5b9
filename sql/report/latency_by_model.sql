/* Model call latency by model: p50 and p95 in milliseconds, and how many calls. */
SELECT
    model,
    count(*) AS calls,
    quantile_cont(latency_ms, 0.5) AS p50_ms,
    quantile_cont(latency_ms, 0.95) AS p95_ms
FROM replay_calls
WHERE spent AND latency_ms IS NOT NULL  -- calls the replays made (not a re-judge's copies)
GROUP BY model
ORDER BY calls DESC, model
