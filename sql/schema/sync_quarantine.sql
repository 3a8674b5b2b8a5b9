/* Mirror quarantined lines from data/_kb/quarantine.jsonl: quarantine.v1 rows whose quarantine_id is not there yet. */
INSERT INTO quarantine
SELECT DISTINCT ON (quarantine_id)
    quarantine_id, stream, path, line, "offset", kind, reason, raw, raw_base64, receipt_id, quarantined_at,
    NULL AS resolved_receipt_id
FROM read_json($path, format = 'newline_delimited', columns = {
    schema: 'VARCHAR', quarantine_id: 'VARCHAR', stream: 'VARCHAR', path: 'VARCHAR', line: 'BIGINT',
    "offset": 'BIGINT', kind: 'VARCHAR', reason: 'VARCHAR', raw: 'VARCHAR', raw_base64: 'VARCHAR',
    receipt_id: 'VARCHAR', quarantined_at: 'TIMESTAMPTZ'
}) AS q
WHERE schema = 'quarantine.v1'
  AND NOT EXISTS (SELECT 1 FROM quarantine AS x WHERE x.quarantine_id = q.quarantine_id)
