/* The evidence view: every committed Parquet part of the root, typed for analysts (day DATE, ts TIMESTAMPTZ, metadata JSON). */
-- {{parts}} is the absolute glob of this root's parts, so the view works from any working directory.
CREATE OR REPLACE VIEW evidence AS
SELECT
    schema, evidence_id, kind, CAST(day AS DATE) AS day, CAST(ts AS TIMESTAMPTZ) AS ts, source, run_id, task_id,
    model, text, passed, score, prompt_tokens, completion_tokens, duration_ms, tags,
    CAST(metadata AS JSON) AS metadata, receipt_id
FROM read_parquet({{parts}}, hive_partitioning = false, union_by_name = true)
