/* The catalog analysts attach: mirror tables of the JSONL truth (keys: evidence_id, receipt_id, quarantine_id). */
CREATE TABLE IF NOT EXISTS evidence (
    schema VARCHAR,
    evidence_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    day DATE NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    source STRUCT(stream VARCHAR, path VARCHAR, line BIGINT),
    run_id VARCHAR,
    task_id VARCHAR,
    model VARCHAR,
    text VARCHAR,
    passed BOOLEAN,
    score DOUBLE,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    duration_ms BIGINT,
    tags VARCHAR[],
    metadata JSON,
    receipt_id VARCHAR
);

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
    quarantined_at TIMESTAMPTZ
);
