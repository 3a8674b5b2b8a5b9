/* The lake's tables, created when missing with the columns of this root's catalog (evidence, replay_runs, receipts, quarantine). */
-- Run on a connection where the root's catalog is the default database and the lake is attached as `lake`.
CREATE TABLE IF NOT EXISTS lake.evidence AS FROM evidence LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.replay_runs AS FROM replay_runs LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.receipts AS FROM receipts LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.quarantine AS FROM quarantine LIMIT 0;
CREATE TABLE IF NOT EXISTS lake.prices AS FROM prices LIMIT 0;
-- The lake's retention: rows older than the latest `before` were pruned and are not published again.
CREATE TABLE IF NOT EXISTS lake.lake_retention (before DATE, pruned_at TIMESTAMPTZ, host VARCHAR);
CREATE TABLE IF NOT EXISTS lake.lake_pushes (host VARCHAR, pushed_at TIMESTAMPTZ, rows BIGINT);
-- One row every publishing transaction updates first: DuckLake lets concurrent appends to a table both
-- commit, but not two updates of one row, so publishers take turns (the loser retries and sees the rows).
CREATE TABLE IF NOT EXISTS lake.lake_lock (name VARCHAR, pushes BIGINT);
INSERT INTO lake.lake_lock SELECT 'publish', 0 WHERE NOT EXISTS (SELECT 1 FROM lake.lake_lock);
