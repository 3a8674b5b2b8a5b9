/* Scratch tables of one materialize run (in a private in-memory connection). */
CREATE TEMP TABLE new_evidence (
    evidence_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    day VARCHAR NOT NULL,
    ts VARCHAR NOT NULL,
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
    transform_order INTEGER,
    line_no BIGINT
);

CREATE TEMP TABLE new_quarantine (
    stream VARCHAR,
    path VARCHAR,
    line BIGINT,
    "offset" BIGINT,
    kind VARCHAR,
    reason VARCHAR,
    raw VARCHAR
);

CREATE TEMP TABLE existing_ids (evidence_id VARCHAR);
