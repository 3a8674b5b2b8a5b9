/* Replay run history in the catalog: replay_runs, one row per replay_run.v1 line, nested fields as STRUCT/LIST (its views: replay_views.sql). */
CREATE TABLE IF NOT EXISTS replay_runs (
    recorded_run_id VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ,
    day DATE,
    input_task VARCHAR,
    task_hash VARCHAR,
    retrieved_artifacts STRUCT(rag_ids VARCHAR[]),
    context_bundle JSON,
    model_response VARCHAR,
    model_used VARCHAR,
    escalation_path VARCHAR[],
    validation_result STRUCT(passed BOOLEAN, reasons VARCHAR[]),
    duration_ms BIGINT,
    calls STRUCT(call_index INTEGER, model VARCHAR, ok BOOLEAN, error VARCHAR, latency_ms BIGINT, prompt_tokens BIGINT,
                 completion_tokens BIGINT, gate_reasons VARCHAR[])[],
    provenance JSON,
    label VARCHAR,  -- provenance.label: the set of runs this one belongs to (lakehouse replay --label)
    replay_of VARCHAR  -- provenance.replay_of: the recorded run this one re-ran (lakehouse replay --of)
);
