/* Publish what the lake lacks, by key: each table's rows of this root whose key the lake does not hold. */
-- {{table}}, {{key}}: one of evidence/evidence_id, replay_runs/recorded_run_id, receipts/receipt_id,
-- quarantine/quarantine_id. Inside the push's one lake transaction, which first updates lake_lock, so
-- that two hosts pushing at once conflict and one retries: the same row is never published twice.
INSERT INTO lake.{{table}}
SELECT * FROM {{table}} AS mine
WHERE NOT EXISTS (SELECT 1 FROM lake.{{table}} AS held WHERE held.{{key}} = mine.{{key}})
