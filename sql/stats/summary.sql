/* Replay runs, their pass and escalation rates, quarantined lines and corpus documents, as one row. */
SELECT
    (SELECT count(*) FROM replay_runs) AS runs,
    (SELECT round(avg(CASE WHEN validation_result.passed THEN 1 ELSE 0 END), 4) FROM replay_runs) AS pass_rate,
    (SELECT round(avg(CASE WHEN len(escalation_path) > 1 THEN 1 ELSE 0 END), 4) FROM replay_runs) AS escalation_rate,
    (SELECT count(*) FROM quarantine WHERE resolved_receipt_id IS NULL) AS quarantined,
    (SELECT count(*) FROM rag_corpus) AS corpus_documents
