/* Stage a table's rows to publish, checked against the lake: those whose key no host has appended yet ($1: the lake's retention day). */
-- What `lakehouse lake push` and a table's first push by a root run (their record is then built from the
-- lake: lake/record.py); the pushes in between read the root's record instead (stage_by_record.sql).
-- {{kept}} is the table's day column when the lake prunes it, else a constant. Hosts append without a
-- lock: a host that publishes the same key at the same instant appends it too, and the lake's view
-- keeps one (sql/lake/one_row_a_key.sql).
CREATE OR REPLACE TEMPORARY TABLE {{pending}} AS
SELECT * FROM {{table}} AS mine
WHERE {{kept}} >= $1
  AND NOT EXISTS (SELECT 1 FROM lake.{{appended}} AS held WHERE held.{{key}} = mine.{{key}})
