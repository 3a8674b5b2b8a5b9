/* Record the root's rows the lake already holds, after a push staged against the lake ($1: the table's name, $2: the push's id, $3: the retention day). */
-- Run after record_in_flight.sql in the same local transaction: the rows not recorded by then are those
-- the lake did not lack.
INSERT INTO lake_record.published
SELECT DISTINCT $1, {{record_key}}, $2 FROM {{table}} AS mine
WHERE {{kept}} >= $3
  AND NOT EXISTS (
      SELECT 1 FROM lake_record.published AS done WHERE done.table_name = $1 AND done.key = {{record_key}}
  )
