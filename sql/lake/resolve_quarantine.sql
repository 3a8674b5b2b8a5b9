/* Carry what quarantine retries changed to the lake: a line this root's retry resolved, or the latest reason of one still failing. */
-- Only lines the lake still holds open: a resolution is final, so setting it is idempotent from any host.
UPDATE lake.quarantine AS held
SET reason = mine.reason, receipt_id = mine.receipt_id, quarantined_at = mine.quarantined_at,
    resolved_receipt_id = mine.resolved_receipt_id
FROM quarantine AS mine
WHERE held.quarantine_id = mine.quarantine_id
  AND held.resolved_receipt_id IS NULL
  AND (mine.resolved_receipt_id IS NOT NULL OR held.reason IS DISTINCT FROM mine.reason)
