/* Whether the catalog holds this version's compare macros (a catalog written by an older version lacks them, or their cost columns). */
SELECT count(DISTINCT function_name) FROM duckdb_functions()
WHERE function_name IN ('compare_runs', 'compare_summary')
  AND (function_name <> 'compare_summary' OR macro_definition LIKE '%priced_pairs%')
