/* Stage one transform's block of new lines: parse each JSON line once, read each declared field and the event time once, and say why a line is quarantined. */
CREATE OR REPLACE TEMP TABLE {{staged}} AS
-- Each line parsed once: its fields read by json_transform in try() (NULL: not JSON). A line that begins with
-- '{' and parses is an object; only the others are parsed again, by json_type, to say what they hold.
WITH decoded AS (
    SELECT line_no, byte_offset, raw, try(json_transform(raw, {{field_spec}})) AS fields
    FROM {{lines}}
),
classified AS (
    SELECT
        line_no,
        byte_offset,
        raw,
        fields,
        CASE WHEN fields IS NOT NULL AND starts_with(raw, '{') THEN 'OBJECT' ELSE try(json_type(raw)) END AS json_kind
    FROM decoded
),
parsed AS (
    SELECT
        line_no,
        byte_offset,
        raw,
        CASE
            WHEN json_kind IS NULL THEN 'invalid JSON'
            WHEN json_kind <> 'OBJECT' THEN 'not a JSON object but ' || lower(json_kind)
            WHEN fields IS NULL THEN 'invalid JSON'  -- an object json_transform cannot read (none known)
        END AS problem,
        CASE WHEN json_kind = 'OBJECT' THEN fields END AS f
    FROM classified
),
-- the time field's JSON type and text, read once for the event time and its nanoseconds, and each
-- field's JSON type, read once for its reading and its check
timed AS (
    SELECT *, json_type(f.{{time_field}}) AS time_kind, f.{{time_field}} ->> '$' AS time_text, {{field_kinds}}
    FROM parsed
),
-- a time string parsed once; the epoch readings only for the values it leaves (macros.sql, lh_event_time)
clocked AS (
    SELECT *, CASE WHEN time_kind = 'VARCHAR' THEN lh_parse_time(time_text) END AS time_parsed
    FROM timed
),
epoch AS (
    SELECT *,
           CASE WHEN time_parsed IS NULL THEN lh_time_number(f.{{time_field}}, time_kind) END AS time_number,
           CASE WHEN time_parsed IS NULL THEN lh_time_whole(f.{{time_field}}, time_kind) END AS time_whole
    FROM clocked
),
-- each field's reading (NULL when it has none) and the event time, computed once for checks and evidence
typed AS (
    SELECT *, lh_event_time_of(time_parsed, time_number, time_whole) AS event_time, {{typed_fields}}
    FROM epoch
)
SELECT
    line_no,
    byte_offset,
    raw,
    coalesce(problem, {{checks}}) AS problem,
    event_time,
    lh_event_nanos_of(time_kind, time_text, time_whole) AS event_nanos,
    {{natural_key}} AS natural_key,
    {{field_columns}}
FROM typed
