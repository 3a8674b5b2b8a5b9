/* The report's window: temporary views named like the catalog's tables, holding only the days from {{since}} to {{until}}. */
-- {{db}}: the catalog's database name. Every report query (the named ones included) runs unchanged on these
-- views, so the report and `lakehouse query` compute their figures with the same SQL.
CREATE OR REPLACE TEMP VIEW replay_runs AS
SELECT * FROM {{db}}.main.replay_runs WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW replay_calls AS
SELECT * FROM {{db}}.main.replay_calls WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW evidence AS
SELECT * FROM {{db}}.main.evidence WHERE day BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
CREATE OR REPLACE TEMP VIEW quarantine AS
SELECT * FROM {{db}}.main.quarantine WHERE CAST(quarantined_at AS DATE) BETWEEN CAST({{since}} AS DATE) AND CAST({{until}} AS DATE);
