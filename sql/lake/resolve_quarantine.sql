/* Carry quarantine resolutions to the lake: lines this root's retries turned into evidence, still open there. */
-- A resolution is final (a resolved line never reopens), so setting it is idempotent from any host.
UPDATE lake.quarantine AS held
SET resolved_receipt_id = mine.resolved_receipt_id, reason = mine.reason
FROM quarantine AS mine
WHERE held.quarantine_id = mine.quarantine_id
  AND mine.resolved_receipt_id IS NOT NULL
  AND held.resolved_receipt_id IS NULL
