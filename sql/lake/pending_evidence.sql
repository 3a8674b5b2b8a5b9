/* The evidence of this root the lake lacks (by evidence_id) and has not pruned, staged for the push's Parquet parts. */
-- Inside the push's lake transaction (appended without a lock: see sql/lake/one_row_a_key.sql).
CREATE OR REPLACE TEMPORARY TABLE pending_evidence AS
SELECT * FROM evidence AS mine
WHERE mine.day >= (SELECT coalesce(max(before), DATE '0001-01-01') FROM lake.lake_retention)
  AND NOT EXISTS (SELECT 1 FROM lake.evidence_appended AS held WHERE held.evidence_id = mine.evidence_id)
