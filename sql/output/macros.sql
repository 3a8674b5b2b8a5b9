/* How one value of a query result is written in csv, json, jsonl and the terminal table (README, "Output formats").
   lakehouse/results.py calls these on the leaves of every column: the conversion is DuckDB's own casts. */

-- TIMESTAMP WITH TIME ZONE: RFC 3339 in UTC ("2026-12-02T10:00:00.5Z"); fractional digits only as needed.
CREATE OR REPLACE MACRO lh_out_timestamptz(t) AS
    regexp_replace(regexp_replace(CAST(t AS VARCHAR), '^(-?\d{4,}-\d\d-\d\d) ', '\1T'), '\+00$', 'Z');

-- TIMESTAMP (no zone, any precision): ISO 8601 without an offset, since none is known.
CREATE OR REPLACE MACRO lh_out_timestamp(t) AS
    regexp_replace(CAST(t AS VARCHAR), '^(-?\d{4,}-\d\d-\d\d) ', '\1T');

-- DOUBLE and FLOAT as text: the shortest text that reads back the same value; NaN, Infinity, -Infinity.
CREATE OR REPLACE MACRO lh_out_float_text(x) AS
    CASE WHEN isnan(x) THEN 'NaN'
         WHEN isinf(x) AND x > 0 THEN 'Infinity'
         WHEN isinf(x) THEN '-Infinity'
         ELSE CAST(x AS VARCHAR) END;

-- DOUBLE and FLOAT as a JSON value: a number, or the strings "NaN", "Infinity", "-Infinity"
-- (JSON has no literal for them; the same strings as the protobuf JSON mapping).
CREATE OR REPLACE MACRO lh_out_float_json(x) AS
    CAST(CASE WHEN isnan(x) OR isinf(x) THEN '"' || lh_out_float_text(x) || '"'
              ELSE CAST(x AS VARCHAR) END AS JSON);

-- DOUBLE and FLOAT on a terminal: four significant digits, whole numbers from a million on.
CREATE OR REPLACE MACRO lh_out_float_display(x) AS
    CASE WHEN isnan(x) OR isinf(x) THEN lh_out_float_text(x)
         WHEN abs(x) < 1e6 THEN printf('%.4g', x)
         ELSE printf('%.0f', x) END;

-- BLOB: standard base64.
CREATE OR REPLACE MACRO lh_out_blob(b) AS base64(b);
