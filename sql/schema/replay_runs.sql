/* Replay run history in the catalog: replay_runs (one row per replay_run.v1 line, nested fields as STRUCT/LIST), replay_calls, escalations. */
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

-- One row per model call (call_index 1 = the local model), with the run's day and task.
CREATE OR REPLACE VIEW replay_calls AS
SELECT recorded_run_id, recorded_at, day, task_hash, unnest(calls, recursive := true)
FROM replay_runs;

-- One row per run that escalated: from which model to which, whether it recovered, and why it escalated
-- (the local call's failed gates, or its call error).
CREATE OR REPLACE VIEW escalations AS
SELECT
    recorded_run_id, recorded_at, day, task_hash,
    escalation_path[1] AS from_model,
    escalation_path[2] AS to_model,
    validation_result.passed AS recovered,
    coalesce(calls[1].gate_reasons, []) AS reasons,
    validation_result.reasons AS final_reasons
FROM replay_runs
WHERE len(escalation_path) > 1;
