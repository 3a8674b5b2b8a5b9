/* One object per paired task for lakehouse compare: regressions first, then fixes, then the rest, by task. */
SELECT task_hash, input_task, base_run, candidate_run, base_passed, candidate_passed, change,
       retrieval_jaccard, answer_changed, escalated, tokens_delta, latency_delta_ms, candidate_reasons,
       base_cost_usd, candidate_cost_usd, cost_delta_usd
FROM compare_runs($1, $2)
ORDER BY CASE change WHEN 'regression' THEN 0 WHEN 'fix' THEN 1 ELSE 2 END, input_task, task_hash
