/* Each of two labels ($1, $2): its runs, its distinct tasks, its corpus versions, the gate sets that judged it. */
SELECT label, count(*) AS runs, count(DISTINCT task_hash) AS tasks,
       list_sort(list_distinct(list(provenance ->> 'corpus_version'))) AS corpus_versions,
       list_sort(list_distinct(list(coalesce(provenance ->> 'gates_version', 'gates.v1')))) AS gates_versions
FROM replay_runs
WHERE label = $1 OR label = $2
GROUP BY label
