/* The columns of a table, in order, with their types: (column_name, column_type). */
-- {{table}}: the qualified table, e.g. lake.evidence or pending_evidence.
SELECT column_name, column_type FROM (DESCRIBE {{table}})
