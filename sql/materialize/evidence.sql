/* One transform's valid staged lines of a block as evidence_record.v1 rows (id, day, provenance, metadata)
   by day, then source order, each with its JSONL line and line number. */
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
    strftime(s.event_time::TIMESTAMP, '%Y-%m-%d') AS day,
    lh_format_time(s.event_time, s.event_nanos) AS ts,
    {'stream': {{stream}}, 'path': {{path}}, 'line': s.line_no} AS source,
    {{mapped_columns}},
    json_merge_patch(s.raw, {{metadata_patch}}) AS metadata,
    s.line_no AS line_no
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
    $receipt_id AS receipt_id,
    -- to_json() of a struct holding the JSON metadata re-parses it (slow); it is spliced in as text instead.
    concat(
        left(to_json({
            'schema': 'evidence_record.v1',
            'evidence_id': evidence_id,
            'kind': kind,
            'day': day,
            'ts': ts,
            'source': source,
            'run_id': run_id,
            'task_id': task_id,
            'model': model,
            'text': text,
            'passed': passed,
            'score': score,
            'prompt_tokens': prompt_tokens,
            'completion_tokens': completion_tokens,
            'duration_ms': duration_ms,
            'tags': tags
        })::VARCHAR, -1),
        ',"metadata":', metadata::VARCHAR,
        ',"receipt_id":', to_json($receipt_id)::VARCHAR,
        '}', chr(10)
    ) AS jsonl_line,
    line_no
FROM evidence
ORDER BY day, line_no
