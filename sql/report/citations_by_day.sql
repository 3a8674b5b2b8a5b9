/* How often an answer cites a playbook it was given: per day, among runs that retrieved at least one. */
SELECT
    day,
    count(*) AS runs_with_playbooks,
    count(*) FILTER (
        WHERE list_bool_or(list_transform(retrieved_artifacts.rag_ids, id -> contains(model_response, id)))
    ) AS citing_runs,
    citing_runs / runs_with_playbooks AS citation_rate
FROM replay_runs
WHERE len(retrieved_artifacts.rag_ids) > 0
GROUP BY day
ORDER BY day
