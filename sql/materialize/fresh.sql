/* Keep each evidence id once: its first occurrence in this run, and only if no earlier run wrote it. */
-- Duplicates are rare, so only their ids are grouped (a narrow hash aggregate), never the wide rows.
CREATE OR REPLACE TEMP TABLE repeated AS
SELECT evidence_id, min([transform_order, line_no]) AS first
FROM new_evidence
WHERE evidence_id IN (SELECT evidence_id FROM new_evidence GROUP BY evidence_id HAVING count(*) > 1)
GROUP BY evidence_id;

CREATE OR REPLACE TEMP TABLE fresh AS
SELECT n.*
FROM new_evidence AS n
LEFT JOIN repeated AS r USING (evidence_id)
WHERE n.evidence_id NOT IN (SELECT evidence_id FROM existing_ids)
  AND (r.first IS NULL OR r.first = [n.transform_order, n.line_no])
-- stored in output order: each day's query (materialize/output) then reads only the row groups holding
-- its day (zone maps), not the whole table, and finds its rows already sorted
ORDER BY day, transform_order, line_no;
