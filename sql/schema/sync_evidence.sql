/* Mirror evidence from Parquet parts into the catalog: rows whose evidence_id is not there yet. */
INSERT INTO evidence
SELECT
    schema, evidence_id, kind, CAST(day AS DATE), CAST(ts AS TIMESTAMPTZ), source, run_id, task_id, model, text,
    passed, score, prompt_tokens, completion_tokens, duration_ms, tags, CAST(metadata AS JSON), receipt_id
FROM read_parquet($files, hive_partitioning = false, union_by_name = true) AS p
WHERE NOT EXISTS (SELECT 1 FROM evidence AS e WHERE e.evidence_id = p.evidence_id)
