/* Turn one transform's valid staged lines into evidence_record.v1 rows: id, day, provenance, metadata. */
INSERT INTO new_evidence
WITH source AS (
    SELECT line_no, {{typed_fields}}
    FROM {{staged}}
    WHERE problem IS NULL
),
mapped AS (
{{transform}}
)
SELECT
    'ev:' || left(sha256({{kind}} || chr(10) || coalesce({{natural_key}}, json(s.raw)::VARCHAR)), 32) AS evidence_id,
    {{kind}} AS kind,
    strftime(s.event_time::TIMESTAMP, '%Y-%m-%d') AS day,
    lh_format_time(s.event_time, s.event_nanos) AS ts,
    {'stream': {{stream}}, 'path': {{path}}, 'line': s.line_no} AS source,
    {{mapped_columns}},
    json_merge_patch(s.raw, {{metadata_patch}}) AS metadata,
    {{order}} AS transform_order,
    s.line_no AS line_no
FROM mapped AS m
JOIN {{staged}} AS s ON s.line_no = m.line_no
