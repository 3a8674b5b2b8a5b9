/* Open quarantined lines by stream and reason (the 30 largest groups). */
SELECT stream, reason, count(*) AS lines
FROM quarantine
WHERE resolved_receipt_id IS NULL
GROUP BY stream, reason
ORDER BY lines DESC, stream, reason
LIMIT 30
