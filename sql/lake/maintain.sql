/* After a prune, one count a statement, in order: snapshots expired (all older than now, so the pruned rows cannot be time-travelled to), files they alone referenced deleted, files nothing references over an hour old deleted (parts of pushes that never committed). */
-- An hour, so that a part another host has just written and is about to register is not taken for an orphan.
SELECT count(*) FROM ducklake_expire_snapshots('lake', older_than => now());
SELECT count(*) FROM ducklake_cleanup_old_files('lake', cleanup_all => true);
SELECT count(*) FROM ducklake_delete_orphaned_files('lake', older_than => now() - INTERVAL 1 HOUR);
