/* How often an answer cites a playbook it was given, among runs that retrieved at least one: per day, or per week when the days are sparse (fewer than 10 such runs a day). */
WITH runs AS (
    SELECT
        day,
        list_bool_or(list_transform(retrieved_artifacts.rag_ids, id -> contains(model_response, id))) AS cites
    FROM replay_runs
    WHERE len(retrieved_artifacts.rag_ids) > 0
),
density AS (SELECT count(*) / greatest(count(DISTINCT day), 1) AS runs_per_day FROM runs)
SELECT
    CASE WHEN runs_per_day < 10 THEN CAST(date_trunc('week', day) AS DATE) ELSE day END AS period,
    CASE WHEN runs_per_day < 10 THEN 'week' ELSE 'day' END AS bucket,
    count(*) AS runs_with_playbooks,
    count(*) FILTER (WHERE cites) AS citing_runs,
    citing_runs / runs_with_playbooks AS citation_rate
FROM runs, density
GROUP BY ALL
ORDER BY period
