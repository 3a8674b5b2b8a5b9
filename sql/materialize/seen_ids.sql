/* Evidence ids earlier runs wrote, read from the Parquet parts (only the id column is scanned). */
INSERT INTO seen_ids
SELECT evidence_id FROM read_parquet($glob, hive_partitioning = false, union_by_name = true)
