/* Read one day's evidence JSONL back into the Parquet column layout (for rebuild). */
SELECT
    schema, evidence_id, kind, day, ts, source, run_id, task_id, model, text, passed, score,
    prompt_tokens, completion_tokens, duration_ms, tags, metadata::VARCHAR AS metadata, receipt_id
FROM read_json($path, format = 'newline_delimited', columns = {
    schema: 'VARCHAR', evidence_id: 'VARCHAR', kind: 'VARCHAR', day: 'VARCHAR', ts: 'VARCHAR',
    source: 'STRUCT(stream VARCHAR, path VARCHAR, line BIGINT)', run_id: 'VARCHAR', task_id: 'VARCHAR',
    model: 'VARCHAR', text: 'VARCHAR', passed: 'BOOLEAN', score: 'DOUBLE', prompt_tokens: 'BIGINT',
    completion_tokens: 'BIGINT', duration_ms: 'BIGINT', tags: 'VARCHAR[]', metadata: 'JSON', receipt_id: 'VARCHAR'
})
