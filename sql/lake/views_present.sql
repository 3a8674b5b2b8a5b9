/* Whether the lake already has the catalog's views (sql/schema/replay_views.sql, sql/schema/otel_views.sql, sql/schema/cost_views.sql). */
SELECT count(*) = 5 FROM duckdb_views()
WHERE database_name = 'lake' AND view_name IN ('replay_calls', 'escalations', 'spans', 'llm_spans', 'model_call_evidence')
