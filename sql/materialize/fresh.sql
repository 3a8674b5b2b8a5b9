/* Keep each evidence id once: its first occurrence in this run, and only if no earlier run wrote it. */
CREATE OR REPLACE TEMP TABLE fresh AS
SELECT *
FROM new_evidence
WHERE evidence_id NOT IN (SELECT evidence_id FROM existing_ids)
QUALIFY row_number() OVER (PARTITION BY evidence_id ORDER BY transform_order, line_no) = 1
