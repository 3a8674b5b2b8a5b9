/* The lake's files kept few, one count a statement, in order: (inlined rows flushed, files rewritten, files merged, snapshots expired, files deleted, orphans deleted). */
-- Run after prune.sql or remove_hidden.sql committed, outside any transaction (each call commits on its
-- own; other hosts keep appending meanwhile: DuckLake lets a merge and appends both commit). The caller
-- sets keep_snapshots (INTERVAL): snapshots older than that expire (a reader keeps every younger one),
-- and file_grace (INTERVAL): a file no snapshot reads any more (merged away, rewritten, or read only by
-- expired snapshots) is deleted once it has been so that long, so a query that listed it just before
-- still reads it (measured: with no grace, an analyst's query failed on a file a merge had replaced). Small rows kept inline in the catalog are
-- flushed to files first, then files with deleted rows rewritten and adjacent small files merged
-- (without the rewrite a small part whose rows were all deleted stays live; measured). Orphans: files
-- nothing references over an hour old (parts of pushes that never committed); an hour, so that a part
-- another host has just written and is about to register is not taken for one.
SELECT count(*) FROM ducklake_flush_inlined_data('lake');
SELECT count(*) FROM ducklake_rewrite_data_files('lake');
SELECT coalesce(sum(files_processed), 0) FROM ducklake_merge_adjacent_files('lake');
SELECT count(*) FROM ducklake_expire_snapshots('lake', older_than => now() - getvariable('keep_snapshots'));
SELECT count(*) FROM ducklake_cleanup_old_files('lake', older_than => now() - getvariable('file_grace'));
SELECT count(*) FROM ducklake_delete_orphaned_files('lake', older_than => now() - INTERVAL 1 HOUR);
