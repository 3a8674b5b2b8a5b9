/* One transform's valid staged lines of a block as evidence_record.v1 rows (id, day, provenance, metadata),
   each with the head of its JSONL line (up to its metadata), its line number and, when a mapped value has
   no reading as its column's type, the problem that quarantines the line. */
-- The writer completes each line in Arrow: head, metadata, the receipt id (the metadata, the largest part,
-- would otherwise be copied out of DuckDB twice), and adds the receipt id's column.
-- Unsorted: sorting these wide rows here cost more than the query; the writer's thread sorts them in Arrow.
-- Which of them are fresh (first occurrence, not written before) is decided after, on the ids alone
-- (materialize/stale_lines): duplicates are rare.
WITH source AS (
    SELECT line_no, {{typed_fields}}
    FROM {{staged}}
    WHERE problem IS NULL
),
mapped AS (
{{transform}}
),
evidence AS (
SELECT
    'ev:' || left(sha256({{kind}} || chr(10) || coalesce(s.natural_key, json(s.raw)::VARCHAR)), 32) AS evidence_id,
    {{kind}} AS kind,
    strftime(s.event_time, '%Y-%m-%d') AS day,
    lh_format_time(s.event_time, s.event_nanos) AS ts,
    {'stream': {{stream}}, 'path': {{path}}, 'line': s.line_no} AS source,
    {{mapped_columns}},
    json_merge_patch(s.raw, {{metadata_patch}}) AS metadata,
    s.line_no AS line_no,
    {{mapping_problem}} AS problem
FROM mapped AS m
JOIN {{staged}} AS s ON s.line_no = m.line_no
)
SELECT
    'evidence_record.v1' AS schema,
    evidence_id,
    kind,
    day,
    ts,
    source,
    run_id,
    task_id,
    model,
    text,
    passed,
    score,
    prompt_tokens,
    completion_tokens,
    duration_ms,
    tags,
    metadata::VARCHAR AS metadata,
    -- The line's fields before the metadata, field by field: a struct's to_json() costs more than the parts
    -- (ids, days and times are plain ASCII, numbers print as JSON).
    concat(
        '{"schema":"evidence_record.v1","evidence_id":"', evidence_id,
        '","kind":', to_json(kind)::VARCHAR,
        ',"day":"', day, '","ts":"', ts,
        '","source":', to_json(source)::VARCHAR,
        ',"run_id":', coalesce(to_json(run_id)::VARCHAR, 'null'),
        ',"task_id":', coalesce(to_json(task_id)::VARCHAR, 'null'),
        ',"model":', coalesce(to_json(model)::VARCHAR, 'null'),
        ',"text":', coalesce(to_json(text)::VARCHAR, 'null'),
        ',"passed":', coalesce(passed::VARCHAR, 'null'),
        ',"score":', coalesce(to_json(score)::VARCHAR, 'null'),
        ',"prompt_tokens":', coalesce(prompt_tokens::VARCHAR, 'null'),
        ',"completion_tokens":', coalesce(completion_tokens::VARCHAR, 'null'),
        ',"duration_ms":', coalesce(duration_ms::VARCHAR, 'null'),
        ',"tags":', to_json(tags)::VARCHAR,
        ',"metadata":'
    ) AS jsonl_head,
    line_no,
    problem
FROM evidence
