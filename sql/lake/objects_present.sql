/* The lake's tables and views that exist: (name, 'table' or 'view'); a lake made by an older version lacks the newer ones. */
SELECT table_name, 'table' FROM duckdb_tables() WHERE database_name = 'lake'
UNION ALL
SELECT view_name, 'view' FROM duckdb_views() WHERE database_name = 'lake' AND NOT internal
