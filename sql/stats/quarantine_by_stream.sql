/* Open quarantined lines per stream, most first. */
SELECT stream, count(*) AS lines FROM quarantine WHERE resolved_receipt_id IS NULL GROUP BY stream ORDER BY lines DESC, stream
