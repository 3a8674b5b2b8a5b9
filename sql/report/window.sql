/* The report's window: temporary views named like the catalog's tables, holding only the days from {{since}} to {{until}}. */
-- {{db}}: the database the figures come from (the root's catalog, or the lake with --lake). Every report
-- query (the named ones included) runs unchanged on these views, so the report and `lakehouse query`
-- compute their figures with the same SQL.
CREATE OR REPLACE TEMP VIEW replay_runs AS
SELECT * FROM {{db}}.main.replay_runs WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW replay_calls AS
SELECT * FROM {{db}}.main.replay_calls WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW model_call_evidence AS
SELECT * FROM {{db}}.main.model_call_evidence WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW evidence AS
SELECT * FROM {{db}}.main.evidence WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW quarantine AS
SELECT * FROM {{db}}.main.quarantine WHERE CAST(quarantined_at AS DATE) BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
-- The OpenTelemetry views of the catalog (or the lake), windowed by the day of the span.
CREATE OR REPLACE TEMP VIEW spans AS
SELECT * FROM {{db}}.main.spans WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW llm_spans AS
SELECT * FROM {{db}}.main.llm_spans WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
-- Playbook titles come from this root's corpus (the lake has no corpus).
CREATE OR REPLACE TEMP VIEW rag_corpus AS SELECT * FROM {{corpus_db}}.main.rag_corpus;
