/* The lake's files kept few, one count a statement: (inlined rows flushed, files rewritten, files merged). */
-- Outside any transaction (each call commits on its own; other hosts keep appending meanwhile: DuckLake
-- lets a merge and appends both commit). Rows DuckLake kept inline in the catalog are flushed to files,
-- files with deleted rows rewritten (without it a small part whose rows were all deleted stays live;
-- measured), adjacent small files merged. What they replace is deleted by expire.sql once unread for
-- the grace. See lake/maintain.py for the order against expire.sql.
SELECT count(*) FROM ducklake_flush_inlined_data('lake');
SELECT count(*) FROM ducklake_rewrite_data_files('lake');
SELECT coalesce(sum(files_processed), 0) FROM ducklake_merge_adjacent_files('lake');
