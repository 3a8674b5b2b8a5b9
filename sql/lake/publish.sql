/* Publish what the lake lacks, by key: each table's rows of this root whose key no host has appended yet. */
-- {{table}}, {{appended}}, {{key}}: replay_runs, receipts or prices and their key (evidence goes as
-- Parquet parts: pending_evidence.sql; quarantine: publish_quarantine.sql). {{kept}} is the table's day
-- column when the lake prunes it (rows older than the lake's retention are not published again), else a
-- constant. A plain append in the push's one lake transaction: a host that publishes the same key at the
-- same instant appends it too, and the lake's view keeps one (sql/lake/one_row_a_key.sql).
INSERT INTO lake.{{appended}}
SELECT * FROM {{table}} AS mine
WHERE {{kept}} >= (SELECT coalesce(max(before), DATE '0001-01-01') FROM lake.lake_retention)
  AND NOT EXISTS (SELECT 1 FROM lake.{{appended}} AS held WHERE held.{{key}} = mine.{{key}})
