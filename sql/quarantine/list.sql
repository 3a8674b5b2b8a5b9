/* Open quarantined lines grouped by stream and reason: how many, and the first one's file and line as an example. */
SELECT
    stream,
    reason,
    count(*) AS lines,
    arg_min(path, line) AS example_path,
    min(line) AS example_line
FROM quarantine
WHERE resolved_receipt_id IS NULL
  AND ($stream IS NULL OR stream = $stream)
  AND ($reason IS NULL OR contains(lower(reason), lower($reason)))
GROUP BY stream, reason
ORDER BY lines DESC, stream, reason
