/* The rows of one appended table its view hides (a key's other rows, days before the lake's retention), staged for deletion: how many. */
-- {{appended}}, {{partition}}, {{prefer}}, {{kept}} as in sql/lake/one_row_a_key.sql, whose choice this repeats.
-- Read-only, outside the deleting transaction (delete_hidden.sql): a row once hidden stays hidden.
CREATE OR REPLACE TEMPORARY TABLE hidden_rows AS
SELECT rowid FROM (
    SELECT rowid,
           {{kept}} >= (SELECT coalesce(max(before), DATE '0001-01-01') FROM lake.lake_retention) AS kept,
           row_number() OVER (PARTITION BY {{partition}} ORDER BY {{prefer}}) AS lake_row
    FROM lake.{{appended}} AS appended
)
WHERE lake_row > 1 OR NOT kept;
SELECT count(*) FROM hidden_rows
