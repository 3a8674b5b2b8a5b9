/* The lines of a block's evidence that are not fresh: an id seen before (an earlier block or run), or its second occurrence in the block. */
-- Only the ids and line numbers of the block (block_ids, registered from Arrow) are read, never the wide rows.
WITH repeated AS (
    SELECT evidence_id, min(line_no) AS first_line
    FROM block_ids
    GROUP BY evidence_id
    HAVING count(*) > 1
)
SELECT b.line_no
FROM block_ids AS b
LEFT JOIN repeated AS r USING (evidence_id)
WHERE b.line_no <> coalesce(r.first_line, b.line_no)
   OR b.evidence_id IN (SELECT evidence_id FROM seen_ids WHERE kind = $kind)
