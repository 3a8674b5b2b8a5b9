/* The latest materialize receipt: its id, when it finished, and its totals. */
SELECT receipt_id, strftime(finished_at, '%Y-%m-%dT%H:%M:%SZ') AS finished_at, totals FROM receipts ORDER BY finished_at DESC NULLS LAST LIMIT 1
