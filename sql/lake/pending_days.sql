/* The days of the evidence staged for a push (pending_evidence.sql), in order: one Parquet part each. */
SELECT DISTINCT day FROM pending_evidence ORDER BY day
