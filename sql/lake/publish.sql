/* Publish what the lake lacks, by key: each table's rows of this root whose key the lake does not hold. */
-- {{table}}, {{key}}: one of replay_runs/recorded_run_id, receipts/receipt_id, quarantine/quarantine_id
-- (evidence goes as Parquet parts: pending_evidence.sql). {{kept}} is the table's day column when the lake
-- prunes it (rows older than the lake's retention are not published again), else a constant.
-- Inside the push's one lake transaction, which first updates lake_lock, so that two hosts pushing at
-- once conflict and one retries: the same row is never published twice.
INSERT INTO lake.{{table}}
SELECT * FROM {{table}} AS mine
WHERE {{kept}} >= (SELECT coalesce(max(before), DATE '0001-01-01') FROM lake.lake_retention)
  AND NOT EXISTS (SELECT 1 FROM lake.{{table}} AS held WHERE held.{{key}} = mine.{{key}})
