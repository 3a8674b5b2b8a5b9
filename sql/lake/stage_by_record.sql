/* Stage a table's rows to publish: those whose record key this root's record lacks ($1: the lake's retention day, $2: the table's name). */
-- Read from the root's catalog into a temporary table, so the catalog is detached before the lake is
-- written to. {{kept}} is the table's day column when the lake prunes it (older rows are not published
-- again), else a constant; {{record_key}} the row's key (quarantine: its key and state).
CREATE OR REPLACE TEMPORARY TABLE {{pending}} AS
SELECT * FROM {{table}} AS mine
WHERE {{kept}} >= $1
  AND NOT EXISTS (
      SELECT 1 FROM lake_record.published AS done WHERE done.table_name = $2 AND done.key = {{record_key}}
  )
