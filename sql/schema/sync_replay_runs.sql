/* Mirror data/_kb/replay_runs.jsonl into replay_runs: lines whose recorded_run_id is not there yet. */
INSERT INTO replay_runs
SELECT DISTINCT ON (recorded_run_id)
    recorded_run_id, recorded_at, CAST(recorded_at AS DATE), input_task, task_hash, retrieved_artifacts,
    context_bundle, model_response, model_used, escalation_path, validation_result, duration_ms,
    -- call_index is stored so that replay_calls is a plain unnest (generate_subscripts doubled its cost).
    list_transform(calls, lambda c, i: {
        'call_index': i, 'model': c.model, 'ok': c.ok, 'error': c.error, 'latency_ms': c.latency_ms,
        'prompt_tokens': c.prompt_tokens, 'completion_tokens': c.completion_tokens, 'gate_reasons': c.gate_reasons
    }),
    provenance,
    provenance ->> 'label' AS label,
    provenance ->> 'replay_of' AS replay_of
-- ignore_errors: a line of another producer with a value of no reading for its column (a token count past
-- BIGINT, a time that is not one) is mirrored with that value NULL, and a line that is not JSON is left out
-- (materialize quarantines both, with reasons); one such line failed every mirror, and sync with it.
FROM read_json($path, format = 'newline_delimited', ignore_errors = true, columns = {
    recorded_run_id: 'VARCHAR', recorded_at: 'TIMESTAMPTZ', input_task: 'VARCHAR', task_hash: 'VARCHAR',
    retrieved_artifacts: 'STRUCT(rag_ids VARCHAR[])', context_bundle: 'JSON', model_response: 'VARCHAR',
    model_used: 'VARCHAR', escalation_path: 'VARCHAR[]', validation_result: 'STRUCT(passed BOOLEAN, reasons VARCHAR[])',
    duration_ms: 'BIGINT',
    calls: 'STRUCT(model VARCHAR, ok BOOLEAN, error VARCHAR, latency_ms BIGINT, prompt_tokens BIGINT, completion_tokens BIGINT, gate_reasons VARCHAR[])[]',
    provenance: 'JSON'
}) AS r
WHERE recorded_run_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM replay_runs AS x WHERE x.recorded_run_id = r.recorded_run_id)
