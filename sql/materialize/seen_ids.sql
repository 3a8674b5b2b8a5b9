/* Evidence ids of one kind that earlier runs wrote, read from the Parquet parts (only those two columns are scanned, and only row groups that hold the kind). */
INSERT INTO seen_ids
SELECT kind, evidence_id, hash(evidence_id) FROM read_parquet($glob, hive_partitioning = false, union_by_name = true)
WHERE kind = $kind
