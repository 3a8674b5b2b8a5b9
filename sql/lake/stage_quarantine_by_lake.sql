/* Stage this root's quarantine lines the lake lacks, checked against the lake, and what its retries changed: a line resolved, or a newer reason of one still failing ($1: the retention day, which quarantine is not pruned by). */
-- Appended as a new state of the line; the lake's view shows a line's resolved state, else its latest
-- (sql/lake/one_row_a_key.sql). A state the lake already shows, or one older than it, is not staged.
CREATE OR REPLACE TEMPORARY TABLE {{pending}} AS
SELECT * FROM quarantine AS mine
WHERE {{kept}} >= $1 AND NOT EXISTS (
    SELECT 1 FROM lake.quarantine AS held
    WHERE held.quarantine_id = mine.quarantine_id
      AND (held.resolved_receipt_id IS NOT NULL
           OR (mine.resolved_receipt_id IS NULL
               AND (held.reason IS NOT DISTINCT FROM mine.reason OR held.quarantined_at >= mine.quarantined_at)))
)
