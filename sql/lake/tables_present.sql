/* The lake's tables that exist (a lake made by an older version lacks the newer ones until a push creates them). */
SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'
