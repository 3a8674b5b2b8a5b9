/* Apply what retries appended to quarantine.jsonl: a still-failing line's latest reason, a resolved line's retry. */
UPDATE quarantine AS q
SET reason = coalesce(newer.reason, q.reason),
    receipt_id = coalesce(newer.receipt_id, q.receipt_id),
    quarantined_at = coalesce(newer.quarantined_at, q.quarantined_at),
    resolved_receipt_id = coalesce(newer.resolved_receipt_id, q.resolved_receipt_id)
FROM (
    SELECT
        quarantine_id,
        arg_max(reason, quarantined_at) FILTER (WHERE schema = 'quarantine.v1') AS reason,
        arg_max(receipt_id, quarantined_at) FILTER (WHERE schema = 'quarantine.v1') AS receipt_id,
        max(quarantined_at) FILTER (WHERE schema = 'quarantine.v1') AS quarantined_at,
        max(resolved_receipt_id) FILTER (WHERE schema = 'quarantine_resolution.v1') AS resolved_receipt_id
    FROM read_json($path, format = 'newline_delimited', columns = {
        schema: 'VARCHAR', quarantine_id: 'VARCHAR', reason: 'VARCHAR', receipt_id: 'VARCHAR',
        quarantined_at: 'TIMESTAMPTZ', resolved_receipt_id: 'VARCHAR'
    })
    GROUP BY quarantine_id
) AS newer
WHERE q.quarantine_id = newer.quarantine_id
  AND (newer.resolved_receipt_id IS NOT NULL OR newer.quarantined_at > q.quarantined_at)
