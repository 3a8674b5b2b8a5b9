/* Evidence ids earlier runs wrote, with their kind, read from the Parquet parts (only those two columns are scanned). */
INSERT INTO seen_ids
SELECT kind, evidence_id FROM read_parquet($glob, hive_partitioning = false, union_by_name = true)
