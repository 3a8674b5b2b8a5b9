/* The catalog's own tables, views and macros by name: what a rebuild left (stamped in catalog_meta) and what a sync finds. */
SELECT table_name AS name
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main'
UNION
SELECT view_name
FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
UNION
SELECT function_name
FROM duckdb_functions()
WHERE database_name = current_database() AND schema_name = 'main' AND NOT internal
  AND function_type IN ('macro', 'table_macro')
ORDER BY name
