/* How many data files the lake's current snapshot reads for one table (the parameter; rows kept inline in the catalog are in no file). */
SELECT count(*) FROM ducklake_list_files('lake', ?)
