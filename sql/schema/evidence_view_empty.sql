/* The evidence view of a root without evidence yet: the same columns, no rows. */
CREATE OR REPLACE VIEW evidence AS
SELECT
    CAST(NULL AS VARCHAR) AS schema, CAST(NULL AS VARCHAR) AS evidence_id, CAST(NULL AS VARCHAR) AS kind,
    CAST(NULL AS DATE) AS day, CAST(NULL AS TIMESTAMPTZ) AS ts,
    CAST(NULL AS STRUCT(stream VARCHAR, path VARCHAR, line BIGINT)) AS source, CAST(NULL AS VARCHAR) AS run_id,
    CAST(NULL AS VARCHAR) AS task_id, CAST(NULL AS VARCHAR) AS model, CAST(NULL AS VARCHAR) AS text,
    CAST(NULL AS BOOLEAN) AS passed, CAST(NULL AS DOUBLE) AS score, CAST(NULL AS BIGINT) AS prompt_tokens,
    CAST(NULL AS BIGINT) AS completion_tokens, CAST(NULL AS BIGINT) AS duration_ms, CAST(NULL AS VARCHAR[]) AS tags,
    CAST(NULL AS JSON) AS metadata, CAST(NULL AS VARCHAR) AS receipt_id
WHERE false
