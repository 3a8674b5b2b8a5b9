/* The latest version of each playbook in the evidence, as RAG documents (rag_id = rag:<playbook_id>). */
SELECT
    'rag:' || (metadata ->> '$.playbook_id') AS rag_id,
    coalesce(metadata ->> '$.title', '') AS title,
    text,
    tags,
    [evidence_id] AS source_evidence_ids,
    ts AS updated_at
FROM read_parquet($glob, hive_partitioning = false, union_by_name = true)
WHERE kind = 'playbook' AND regexp_full_match(metadata ->> '$.playbook_id', '[A-Za-z0-9_.\-]+')
QUALIFY row_number() OVER (
    PARTITION BY metadata ->> '$.playbook_id'
    ORDER BY TRY_CAST(metadata ->> '$.version' AS BIGINT) DESC NULLS LAST, ts DESC, evidence_id
) = 1
ORDER BY rag_id
