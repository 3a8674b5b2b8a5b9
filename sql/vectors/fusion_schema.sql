/* The calibrated weight of hybrid retrieval's convex-combination fusion, per embedding model and corpus version. */
-- One row per calibration (`lakehouse corpus tune-fusion`, or `corpus reindex`); the latest row of a
-- model is the one queries use. corpus_version is the corpus file's size and mtime when calibrated.
CREATE TABLE IF NOT EXISTS fusion_weights (
    model VARCHAR NOT NULL,
    lexical_weight DOUBLE NOT NULL,
    corpus_version VARCHAR,
    documents BIGINT NOT NULL,
    queries INTEGER NOT NULL,
    objective DOUBLE NOT NULL,
    tuned_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
