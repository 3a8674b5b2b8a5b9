/* The days of the evidence staged for a push (stage_by_record.sql, stage_by_lake.sql), in order: one Parquet part each. */
SELECT DISTINCT day FROM {{pending}} ORDER BY day
