/* Mirror materialize receipts from data/_kb/receipts.jsonl: rows whose receipt_id is not there yet. */
INSERT INTO receipts
SELECT receipt_id, started_at, finished_at, duration_ms, root, inputs, transforms, partitions, totals, tool_version
FROM read_json($path, format = 'newline_delimited', columns = {
    receipt_id: 'VARCHAR', started_at: 'TIMESTAMPTZ', finished_at: 'TIMESTAMPTZ', duration_ms: 'BIGINT',
    root: 'VARCHAR', inputs: 'JSON', transforms: 'JSON', partitions: 'JSON', totals: 'JSON', tool_version: 'VARCHAR'
}) AS r
WHERE NOT EXISTS (SELECT 1 FROM receipts AS x WHERE x.receipt_id = r.receipt_id)
