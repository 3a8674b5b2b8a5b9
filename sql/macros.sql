/* Macros shared by transforms and the materializer (created in every private connection). */

-- RFC 3339 (or its common space-separated variant) as a UTC TIMESTAMP; a time without offset is taken as UTC.
-- Event times are UTC TIMESTAMPs, not TIMESTAMPTZ: every TIMESTAMPTZ conversion, date part and format goes
-- through ICU's calendar (at 1M lines ~0.5 s of CPU for the day and ts alone). A time ending in 'Z' (the
-- canonical form) is read as a TIMESTAMP directly, which gives the same instant (tests/test_coercion.py);
-- one with an offset goes through TIMESTAMPTZ, which applies it.
CREATE OR REPLACE MACRO lh_parse_time(value) AS
    CASE WHEN regexp_full_match(value, '\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?')
         THEN CASE WHEN suffix(value, 'Z') THEN TRY_CAST(value AS TIMESTAMP)
                   ELSE TRY_CAST(value AS TIMESTAMPTZ)::TIMESTAMP END END;

-- Event time as written in evidence: RFC 3339, UTC, fractional seconds only when present: six digits,
-- nine when the source had nanoseconds (``nanos``: the 0-999 ns past t's microsecond, lh_event_nanos).
CREATE OR REPLACE MACRO lh_format_time(t, nanos := 0) AS
    CASE WHEN coalesce(nanos, 0) > 0 THEN strftime(t::TIMESTAMP, '%Y-%m-%dT%H:%M:%S.%f') || lpad(CAST(nanos AS VARCHAR), 3, '0') || 'Z'
         WHEN microsecond(t::TIMESTAMP) % 1000000 = 0 THEN strftime(t::TIMESTAMP, '%Y-%m-%dT%H:%M:%SZ')
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

-- A tag list without NULLs or duplicates, in first-seen order. The list is bound once, to x: a macro's
-- argument is pasted wherever the body names it, so `list_position(tags, t)` inside the lambda computed
-- the whole list again for every element (with the otel_spans transform's tags, 2/3 of its CPU).
CREATE OR REPLACE MACRO lh_tags(tags) AS
    list_transform([tags], x -> list_filter(x, (t, i) -> t IS NOT NULL AND t <> '' AND list_position(x, t) = i))[1];

-- Declared field types (README, "Field types and coercion"): each macro reads a JSON value for what
-- it means and returns NULL when it has none (the line is then quarantined, naming what was found).
-- The _of form is given the value's JSON type too: staging reads each field's once a line, for its
-- reading and its check (a macro pastes its arguments wherever its body names them: json_type(v) was
-- computed again in every branch, and planned again with it).

-- string: a string as it is; a number or boolean as its JSON text (a numeric id 7 reads as '7').
CREATE OR REPLACE MACRO lh_as_string_of(v, kind) AS
    CASE kind WHEN 'VARCHAR' THEN v ->> '$'
              WHEN 'BIGINT' THEN CAST(v AS VARCHAR) WHEN 'UBIGINT' THEN CAST(v AS VARCHAR)
              WHEN 'DOUBLE' THEN CAST(v AS VARCHAR) WHEN 'BOOLEAN' THEN CAST(v AS VARCHAR) END;
CREATE OR REPLACE MACRO lh_as_string(v) AS lh_as_string_of(v, json_type(v));

-- A double that holds a whole number within BIGINT, as BIGINT.
CREATE OR REPLACE MACRO lh_whole(x) AS
    CASE WHEN isfinite(x) AND x = floor(x) AND abs(x) < 9.2e18 THEN CAST(x AS BIGINT) END;

-- integer: an integer, a number with no fraction (12.0), a string holding one ("12", "12.0").
CREATE OR REPLACE MACRO lh_as_integer_of(v, kind) AS
    CASE kind WHEN 'BIGINT' THEN TRY_CAST(v AS BIGINT) WHEN 'UBIGINT' THEN TRY_CAST(v AS BIGINT)
              WHEN 'DOUBLE' THEN lh_whole(TRY_CAST(v AS DOUBLE))
              WHEN 'VARCHAR' THEN coalesce(TRY_CAST(trim(v ->> '$') AS BIGINT),
                                           lh_whole(TRY_CAST(trim(v ->> '$') AS DOUBLE))) END;
CREATE OR REPLACE MACRO lh_as_integer(v) AS lh_as_integer_of(v, json_type(v));

-- number: a number, or a string holding a finite one ("12.7").
CREATE OR REPLACE MACRO lh_as_number_of(v, kind) AS
    CASE kind WHEN 'BIGINT' THEN TRY_CAST(v AS DOUBLE) WHEN 'UBIGINT' THEN TRY_CAST(v AS DOUBLE)
              WHEN 'DOUBLE' THEN TRY_CAST(v AS DOUBLE)
              WHEN 'VARCHAR' THEN CASE WHEN isfinite(TRY_CAST(trim(v ->> '$') AS DOUBLE))
                                       THEN TRY_CAST(trim(v ->> '$') AS DOUBLE) END END;
CREATE OR REPLACE MACRO lh_as_number(v) AS lh_as_number_of(v, json_type(v));

-- boolean: true/false, or the strings "true"/"false" (any case).
CREATE OR REPLACE MACRO lh_as_boolean_of(v, kind) AS
    CASE kind WHEN 'BOOLEAN' THEN TRY_CAST(v AS BOOLEAN)
              WHEN 'VARCHAR' THEN CASE lower(trim(v ->> '$')) WHEN 'true' THEN true
                                                              WHEN 'false' THEN false END END;
CREATE OR REPLACE MACRO lh_as_boolean(v) AS lh_as_boolean_of(v, json_type(v));

-- strings: a list of scalars (their text; null items dropped), or one scalar as a list of one. The items' types and
-- texts are read by a path each (json_extract_string writes a number or boolean as lh_as_string does): item by
-- item, each was parsed three times (playbooks' stage statement 0.37-0.42 -> 0.25 CPU-s a 50,000 lines).
CREATE OR REPLACE MACRO lh_as_strings_of(v, kind) AS
    CASE kind
        WHEN 'ARRAY' THEN CASE WHEN NOT coalesce(list_bool_or(list_transform(json_type(v, '$[*]'),
                                                 k -> k IN ('OBJECT', 'ARRAY'))), false)
                               THEN list_filter(json_extract_string(v, '$[*]'), s -> s IS NOT NULL) END
        WHEN 'OBJECT' THEN NULL
        ELSE [lh_as_string_of(v, kind)] END;
CREATE OR REPLACE MACRO lh_as_strings(v) AS lh_as_strings_of(v, json_type(v));

-- text (prose): a string, a scalar's text, or a list of them joined with newlines.
CREATE OR REPLACE MACRO lh_as_text_of(v, kind) AS
    CASE kind WHEN 'ARRAY' THEN array_to_string(lh_as_strings_of(v, kind), chr(10)) ELSE lh_as_string_of(v, kind) END;
CREATE OR REPLACE MACRO lh_as_text(v) AS lh_as_text_of(v, json_type(v));

-- object, array: the JSON value itself when it is one.
CREATE OR REPLACE MACRO lh_as_object_of(v, kind) AS CASE WHEN kind = 'OBJECT' THEN v END;
CREATE OR REPLACE MACRO lh_as_object(v) AS lh_as_object_of(v, json_type(v));
CREATE OR REPLACE MACRO lh_as_array_of(v, kind) AS CASE WHEN kind = 'ARRAY' THEN v END;
CREATE OR REPLACE MACRO lh_as_array(v) AS lh_as_array_of(v, json_type(v));

-- An epoch number as a time, its unit told by magnitude (README): below 1e11 seconds (until the
-- year 5138), below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. Whole numbers are
-- converted in integer arithmetic, so no digit is lost to a double.
CREATE OR REPLACE MACRO lh_epoch_time(x, whole) AS
    CASE WHEN x IS NULL OR NOT isfinite(x) OR x < 0 OR x >= 1e20 THEN NULL
         WHEN whole IS NOT NULL AND x >= 1e17 THEN make_timestamp(whole // 1000)
         WHEN whole IS NOT NULL AND x >= 1e14 THEN make_timestamp(whole)
         WHEN whole IS NOT NULL AND x >= 1e11 THEN make_timestamp(whole * 1000)
         WHEN x >= 1e17 THEN to_timestamp(x / 1e9)::TIMESTAMP
         WHEN x >= 1e14 THEN to_timestamp(x / 1e6)::TIMESTAMP
         WHEN x >= 1e11 THEN to_timestamp(x / 1e3)::TIMESTAMP
         ELSE to_timestamp(x)::TIMESTAMP END;

-- An event time as producers write it: an RFC 3339 or "YYYY-MM-DD HH:MM[:SS[.f]]" string (no
-- offset: UTC), or an epoch number (or a string holding one).
-- Staging reads it in steps, each a column computed once a line (a macro pastes its arguments wherever its
-- body names them: the one-expression form expanded to hundreds of nodes, ~12 ms of planning a block):
--   parsed = lh_parse_time(text) for a string, else NULL;
--   number = lh_time_number(v, kind) and whole = lh_time_whole(v, kind) only where parsed is NULL
--   (a time string is parsed once, and only the others are read as epoch numbers);
--   lh_event_time_of(parsed, number, whole) and lh_event_nanos_of(kind, text, whole).
CREATE OR REPLACE MACRO lh_time_number(v, kind) AS
    CASE WHEN kind IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR') THEN lh_as_number_of(v, kind) END;
CREATE OR REPLACE MACRO lh_time_whole(v, kind) AS
    CASE WHEN kind IN ('BIGINT', 'UBIGINT', 'VARCHAR') THEN lh_as_integer_of(v, kind) END;
CREATE OR REPLACE MACRO lh_event_time_of(parsed, number, whole) AS coalesce(parsed, lh_epoch_time(number, whole));
CREATE OR REPLACE MACRO lh_event_time(v) AS
    lh_event_time_of(CASE WHEN json_type(v) = 'VARCHAR' THEN lh_parse_time(v ->> '$') END,
                     lh_time_number(v, json_type(v)), lh_time_whole(v, json_type(v)));

-- A duration in milliseconds as evidence keeps it: a whole number, rounded half away from zero; NULL past
-- BIGINT (~292 million years: no reading as a duration), instead of failing the whole run.
CREATE OR REPLACE MACRO lh_ms(x) AS TRY_CAST(round(x) AS BIGINT);

-- The nanoseconds past the microsecond of an event time written with more than six fractional digits
-- or as epoch nanoseconds (0 otherwise); lh_event_time keeps microseconds, ts keeps these too. ``whole``:
-- lh_time_whole of the value, NULL for a string read as a clock time (one holding ':' is never a number).
CREATE OR REPLACE MACRO lh_event_nanos_of(kind, text, whole) AS
    CASE WHEN kind = 'VARCHAR' AND regexp_matches(text, '\.\d{7}')
         THEN coalesce(nanosecond(TRY_CAST(text AS TIMESTAMP_NS)) % 1000, 0)
         WHEN whole >= 1e17 THEN whole % 1000
         ELSE 0 END;
CREATE OR REPLACE MACRO lh_event_nanos(v) AS lh_event_nanos_of(json_type(v), v ->> '$', lh_time_whole(v, json_type(v)));
