/* Demo summary: the demo's dry-run replays (the newest run of each demo task). */
SELECT
    left(input_task, 48) AS task,
    validation_result.passed AS passed,
    array_to_string(escalation_path, ' -> ') AS path,
    len(retrieved_artifacts.rag_ids) AS playbooks,
    array_to_string(retrieved_artifacts.rag_ids[1:2], ', ') AS top_rag_ids
FROM replay_runs
WHERE input_task IN (SELECT unnest($tasks))
QUALIFY row_number() OVER (PARTITION BY input_task ORDER BY recorded_at DESC) = 1
ORDER BY input_task
