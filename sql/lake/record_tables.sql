/* A root's record of what it published to its lake (data/_state/lake_published.duckdb), created when missing. */
-- published: the record key of each row this root appended (its key; for quarantine, its key and state)
-- and the push that appended it. pushes: each push's id, committed once its lake transaction did (a push
-- still in flight is settled by the next: lake/record.py). verified: the tables whose record was checked
-- against the lake named (its catalog and data path).
CREATE TABLE IF NOT EXISTS lake_record.published (table_name VARCHAR, key VARCHAR, push_id VARCHAR);
CREATE TABLE IF NOT EXISTS lake_record.pushes (push_id VARCHAR, committed BOOLEAN);
CREATE TABLE IF NOT EXISTS lake_record.verified (table_name VARCHAR PRIMARY KEY, lake VARCHAR, verified_at TIMESTAMPTZ);
