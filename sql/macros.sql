/* Macros shared by transforms and the materializer (created in every private connection). */

-- RFC 3339 (or its common space-separated variant); a time without offset is taken as UTC.
CREATE OR REPLACE MACRO lh_parse_time(value) AS
    CASE WHEN regexp_full_match(value, '\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?')
         THEN TRY_CAST(value AS TIMESTAMPTZ) END;

-- Event time as written in evidence: RFC 3339, UTC, fractional seconds only when present.
CREATE OR REPLACE MACRO lh_format_time(t) AS
    CASE WHEN microsecond(t) % 1000000 = 0 THEN strftime(t::TIMESTAMP, '%Y-%m-%dT%H:%M:%SZ')
         ELSE strftime(t::TIMESTAMP, '%Y-%m-%dT%H:%M:%S.%fZ') END;

-- Non-null texts joined with a separator; NULL when there is none.
CREATE OR REPLACE MACRO lh_join(sep, parts) AS
    nullif(array_to_string(list_filter(parts, p -> p IS NOT NULL AND p <> ''), sep), '');

-- Steps as "1. first\n2. second".
CREATE OR REPLACE MACRO lh_numbered(steps) AS
    array_to_string(list_transform(steps, (s, i) -> i::VARCHAR || '. ' || s), chr(10));

-- A "name:value" tag, or NULL when the value is missing (drop NULLs with lh_tags).
CREATE OR REPLACE MACRO lh_tag(name, value) AS
    CASE WHEN value IS NOT NULL THEN name || ':' || value END;

-- A tag list without NULLs or duplicates, in first-seen order.
CREATE OR REPLACE MACRO lh_tags(tags) AS
    list_filter(tags, (t, i) -> t IS NOT NULL AND t <> '' AND list_position(tags, t) = i);
