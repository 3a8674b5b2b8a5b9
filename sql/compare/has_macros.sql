/* Whether the catalog holds the compare macros (a catalog written by an older version does not). */
SELECT count(DISTINCT function_name) FROM duckdb_functions() WHERE function_name IN ('compare_runs', 'compare_summary')
