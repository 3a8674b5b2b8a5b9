/* Old snapshots expired and files nothing reads deleted, one count a statement: (snapshots expired, files deleted, orphans deleted). */
-- Outside any transaction. The caller sets keep_snapshots (INTERVAL): snapshots older than that expire (a
-- reader keeps every younger one); and file_grace (INTERVAL): a file no snapshot reads any more (merged
-- away, rewritten, or read only by expired snapshots) is deleted once it has been so that long, so a query
-- that listed it just before still reads it (measured: with no grace, an analyst's query failed on a file
-- a merge had replaced). Orphans: files nothing references over an hour old (parts of pushes that never
-- committed); an hour, so that a part another host has just written and is about to register is not
-- taken for one.
SELECT count(*) FROM ducklake_expire_snapshots('lake', older_than => now() - getvariable('keep_snapshots'));
SELECT count(*) FROM ducklake_cleanup_old_files('lake', older_than => now() - getvariable('file_grace'));
SELECT count(*) FROM ducklake_delete_orphaned_files('lake', older_than => now() - INTERVAL 1 HOUR);
