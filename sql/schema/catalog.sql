/* The catalog analysts attach: mirror tables of the JSONL logs (keys: receipt_id, quarantine_id); evidence is a view (evidence_view.sql). */
CREATE TABLE IF NOT EXISTS receipts (
    receipt_id VARCHAR NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    duration_ms BIGINT,
    root VARCHAR,
    inputs JSON,
    transforms JSON,
    partitions JSON,
    totals JSON,
    tool_version VARCHAR
);

CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id VARCHAR NOT NULL,
    stream VARCHAR,
    path VARCHAR,
    line BIGINT,
    "offset" BIGINT,
    kind VARCHAR,
    reason VARCHAR,
    raw VARCHAR,
    raw_base64 VARCHAR,
    receipt_id VARCHAR,
    quarantined_at TIMESTAMPTZ,
    resolved_receipt_id VARCHAR  -- the retry that turned the line into evidence; NULL while open
);

-- Bytes of each mirrored JSONL log the catalog has taken in: an unchanged log is not read again.
CREATE TABLE IF NOT EXISTS mirror_state (source VARCHAR NOT NULL, bytes BIGINT NOT NULL);
