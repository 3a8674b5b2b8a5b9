/* Stage one transform's new lines: parse each JSON line once into its declared fields and say why a line is quarantined. */
CREATE OR REPLACE TEMP TABLE {{staged}} AS
WITH classified AS (
    SELECT
        line_no,
        byte_offset,
        raw,
        CASE
            WHEN NOT json_valid(raw) THEN 'invalid JSON'
            WHEN json_type(raw) <> 'OBJECT' THEN 'not a JSON object but ' || lower(json_type(raw))
        END AS problem
    FROM {{lines}}
),
parsed AS (
    SELECT *, CASE WHEN problem IS NULL THEN json_transform(raw, {{field_spec}}) END AS f
    FROM classified
)
SELECT
    line_no,
    byte_offset,
    raw,
    f,
    coalesce(problem, {{checks}}) AS problem,
    lh_event_time(f.{{time_field}}) AS event_time,
    lh_event_nanos(f.{{time_field}}) AS event_nanos
FROM parsed
