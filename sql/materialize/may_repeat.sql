/* Whether a block's evidence ids may not all be fresh: one repeats within the block, or one has the hash of an id seen before (an earlier block or run) of its kind. Only then are its stale lines looked for, id by id (materialize/stale_lines). */
-- Only the seen ids' 8-byte hashes are read, and the join is built on the block's: comparing the ids
-- themselves built a table of every id seen so far for each block (a million spans in ~110 blocks of ~9,000:
-- 5.5 CPU-s, growing with the square of the stream). A hash that matches by chance only costs the exact look.
SELECT (SELECT count(DISTINCT evidence_id) FROM block_ids) < (SELECT count(*) FROM block_ids)
    OR EXISTS (
        SELECT 1 FROM seen_ids
        WHERE kind = $kind AND id_hash IN (SELECT hash(evidence_id) FROM block_ids)
    )
