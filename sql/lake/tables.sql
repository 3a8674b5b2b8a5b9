/* The lake's tables, created when missing: what hosts append to (<table>_appended, with the columns of this root's catalog) and the lake's bookkeeping. */
-- Run on a connection where the root's catalog is the default database and the lake is attached as `lake`.
-- Analysts read the appended tables through views of one row a key (sql/lake/one_row_a_key.sql).
CREATE TABLE IF NOT EXISTS lake.evidence_appended AS FROM evidence LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.replay_runs_appended AS FROM replay_runs LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.receipts_appended AS FROM receipts LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.quarantine_appended AS FROM quarantine LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.prices_appended AS FROM prices LIMIT 0;
-- The lake's retention: rows older than the latest `before` were pruned and are not published again.
CREATE TABLE IF NOT EXISTS lake.lake_retention (before DATE, pruned_at TIMESTAMPTZ, host VARCHAR);
-- Each push that appended rows: its host, time, rows, and id (the id a host's record of what it published
-- looks for after a crash: lake/record.py). Lakes made before the id have the column added.
CREATE TABLE IF NOT EXISTS lake.lake_pushes (host VARCHAR, pushed_at TIMESTAMPTZ, rows BIGINT, push_id VARCHAR);
ALTER TABLE lake.lake_pushes ADD COLUMN IF NOT EXISTS push_id VARCHAR;
-- Maintenance and prunes take turns with this one row (two updates of a row cannot both commit);
-- publishing does not touch it.
CREATE TABLE IF NOT EXISTS lake.lake_lock (name VARCHAR, pushes BIGINT);
INSERT INTO lake.lake_lock SELECT 'publish', 0 WHERE NOT EXISTS (SELECT 1 FROM lake.lake_lock);
-- Each maintenance (lakehouse lake maintain, or a publisher's), recorded as it starts: the fleet's publishers
-- maintain in turn. hidden_rows_deleted is left NULL (the maintenance's own report has it).
CREATE TABLE IF NOT EXISTS lake.lake_maintenance (
    host VARCHAR, maintained_at TIMESTAMPTZ, hidden_rows_deleted BIGINT
);
