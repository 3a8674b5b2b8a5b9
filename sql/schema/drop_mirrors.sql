/* Drop the mirror tables and views (all derived from the JSONL logs; the next sync mirrors them again). */
DROP VIEW IF EXISTS escalations;
DROP VIEW IF EXISTS replay_calls;
DROP TABLE IF EXISTS replay_runs;
DROP TABLE IF EXISTS receipts;
DROP TABLE IF EXISTS quarantine;
DROP TABLE IF EXISTS mirror_state;
