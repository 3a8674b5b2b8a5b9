/* After a prune, one count a statement, in order; the last three are what the prune receipt reports: deletions kept inline in the catalog flushed to delete files, the pruned tables' files rewritten without their deleted rows (a file whose rows all went is dropped), snapshots older than now expired (the pruned rows cannot be time-travelled to), files they alone referenced deleted, files nothing references over an hour old deleted (parts of pushes that never committed). */
-- Without the flush and the rewrite, a small part whose rows were all deleted stays (DuckLake keeps a
-- small deletion inline and the file live; measured). An hour, so that a part another host has just
-- written and is about to register is not taken for an orphan.
SELECT count(*) FROM ducklake_flush_inlined_data('lake');
SELECT count(*) FROM ducklake_rewrite_data_files('lake', 'evidence');
SELECT count(*) FROM ducklake_rewrite_data_files('lake', 'replay_runs');
SELECT count(*) FROM ducklake_expire_snapshots('lake', older_than => now());
SELECT count(*) FROM ducklake_cleanup_old_files('lake', cleanup_all => true);
SELECT count(*) FROM ducklake_delete_orphaned_files('lake', older_than => now() - INTERVAL 1 HOUR);
