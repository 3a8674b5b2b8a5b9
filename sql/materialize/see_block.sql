/* Remember a block's evidence ids: a later block (or the same id again) is then a duplicate. */
INSERT INTO seen_ids
SELECT $kind, evidence_id, hash(evidence_id) FROM block_ids
