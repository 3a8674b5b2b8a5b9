/* The lake's tables and views that exist, and the columns of its bookkeeping tables that later versions added: (name, 'table', 'view' or 'column'); a lake made by an older version lacks the newer ones. */
SELECT table_name, 'table' FROM duckdb_tables() WHERE database_name = 'lake'
UNION ALL
SELECT view_name, 'view' FROM duckdb_views() WHERE database_name = 'lake' AND NOT internal
UNION ALL
SELECT table_name || '.' || column_name, 'column' FROM duckdb_columns()
WHERE database_name = 'lake' AND table_name = 'lake_pushes'
