/* Scratch tables of one materialize run (in a private in-memory connection). */
-- not TEMP: blocks are mapped on several cursors (connections) of the same in-memory database
CREATE TABLE new_quarantine (
    stream VARCHAR,
    path VARCHAR,
    line BIGINT,
    "offset" BIGINT,
    kind VARCHAR,
    reason VARCHAR,
    raw VARCHAR
);

-- ids of earlier runs, then of each block as it is mapped (materialize/seen_ids, see_block), by kind:
-- the kind is hashed into the id, so an id is only ever looked for among those of its kind; with each its
-- hash(), which a block's ids are looked for by first (materialize/seen_before)
CREATE TEMP TABLE seen_ids (kind VARCHAR, evidence_id VARCHAR, id_hash UBIGINT);
