/* The vector side-store in the catalog (the durable truth the HNSW index is rebuilt from); {{dim}}: its dimension. */
-- One row per (rag_id, model): the embedding of the document version whose content_sha it names.
-- seq grows with every store, so "stored after the index was built" is `seq > <the build's seq>`.
CREATE SEQUENCE IF NOT EXISTS rag_vector_seq;
CREATE TABLE IF NOT EXISTS rag_vectors (
    rag_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    dim INTEGER NOT NULL,
    content_sha VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    vector FLOAT[{{dim}}] NOT NULL
);
