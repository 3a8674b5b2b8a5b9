/* Whether one of a block's evidence ids has the hash of an id of its kind seen before (an earlier block or run): only then, or when an id repeats within the block, are its stale lines looked for id by id (materialize/stale_lines). */
-- The seen ids themselves are not read, only their kinds and 8-byte hashes, and the join is built on the block's:
-- comparing the ids built a table of every id seen so far for each block (a million spans in ~110 blocks of
-- ~9,000: the check took 6.0 CPU-s, growing with the square of the stream). A hash that matches by chance
-- only costs the exact look.
SELECT EXISTS (
    SELECT 1 FROM seen_ids
    WHERE kind = $kind AND id_hash IN (SELECT hash(evidence_id) FROM block_ids)
)
