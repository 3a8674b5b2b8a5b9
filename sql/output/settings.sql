/* Every DuckDB setting's current value as this connection sees it (read-only SQL compares them around a SET). */
SELECT name, coalesce(CAST(value AS VARCHAR), '') FROM duckdb_settings()
