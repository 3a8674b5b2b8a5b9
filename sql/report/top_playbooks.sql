/* The 15 playbooks retrieved most often, with their titles and how often a run that got them passed. */
WITH retrieved AS (
    SELECT unnest(retrieved_artifacts.rag_ids) AS rag_id, validation_result.passed AS passed
    FROM replay_runs
)
SELECT
    r.rag_id,
    coalesce(any_value(c.title), r.rag_id) AS title,
    count(*) AS retrievals,
    avg(CASE WHEN r.passed THEN 1 ELSE 0 END) AS pass_rate
FROM retrieved AS r
LEFT JOIN rag_corpus AS c USING (rag_id)
GROUP BY r.rag_id
ORDER BY retrievals DESC, r.rag_id
LIMIT 15
