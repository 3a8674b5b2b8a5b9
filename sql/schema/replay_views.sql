/* The views over replay_runs: replay_calls (one row per model call, priced) and escalations (one row per run that escalated), in the catalog and in the lake. */
-- One row per model call (call_index 1 = the local model), with the run's day and task, and its cost from
-- the prices table (cost_usd NULL where the model has no price that day or the call reported no tokens).
-- spent: the run made the call. A re-judged run (lakehouse regate) copies its original's calls, and a
-- captured answer (label 'captured') carries the traced call, counted in llm_spans: neither spent anything.
CREATE OR REPLACE VIEW replay_calls AS
SELECT c.*, lh_cost_usd(c.prompt_tokens, c.completion_tokens, p.input_usd_per_mtok, p.output_usd_per_mtok) AS cost_usd
FROM (
    SELECT recorded_run_id, recorded_at, day, task_hash,
           provenance ->> 'regate_of' IS NULL AND label IS DISTINCT FROM 'captured' AS spent,
           unnest(calls, recursive := true)
    FROM replay_runs
) AS c
ASOF LEFT JOIN prices AS p ON c.model = p.model AND c.day >= p.valid_from;

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
