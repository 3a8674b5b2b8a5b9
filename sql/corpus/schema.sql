/* The RAG corpus and its BM25 index in the catalog: documents, postings by integer ids sorted by term, terms, totals. */
CREATE TABLE IF NOT EXISTS rag_corpus (
    doc_id INTEGER NOT NULL,
    rag_id VARCHAR NOT NULL,
    title VARCHAR,
    text VARCHAR,
    tags VARCHAR[],
    source_evidence_ids VARCHAR[],
    updated_at TIMESTAMPTZ,
    content_sha VARCHAR,
    doc_len INTEGER
);
CREATE INDEX IF NOT EXISTS rag_corpus_by_id ON rag_corpus (rag_id);

-- One row per (term, document). Kept sorted by (term_id, doc_id) and written with small row groups
-- (db.ROW_GROUP_SIZE), so a query's `term_id IN (...)` reads only its terms' row groups (zone maps).
-- Incremental adds append unsorted rows at the end; sort_postings.sql re-sorts when they grow.
-- w: the term's BM25 weight in the document, lh_bm25_tf(tf, len, weights_avgdl) (sql/corpus/macros.sql),
-- which queries read instead of computing it while the mean document length has not moved.
-- (Measured dead ends: an ART index on term, abandoned by DuckDB above ~5k matching rows; VARCHAR
-- terms and rag_ids, ~2x slower to filter and group than integers; LIST postings per term.)
CREATE TABLE IF NOT EXISTS rag_postings (
    term_id INTEGER NOT NULL,
    doc_id INTEGER NOT NULL,
    tf INTEGER NOT NULL,
    len INTEGER NOT NULL,
    w DOUBLE
);

-- Every term of the corpus with its id and document frequency (df: the idf needs no count over postings).
CREATE TABLE IF NOT EXISTS rag_terms (term_id INTEGER NOT NULL, term VARCHAR NOT NULL, df BIGINT NOT NULL);

-- Every distinct token of the corpus (stop words aside) with its term: a searcher stems query words from it.
CREATE TABLE IF NOT EXISTS rag_tokens (token VARCHAR NOT NULL, term VARCHAR NOT NULL);

CREATE TABLE IF NOT EXISTS rag_stats (docs BIGINT NOT NULL, total_len BIGINT NOT NULL);

-- corpus_bytes: how much of data/_kb/rag_corpus.jsonl the index has taken in (a cheap staleness check);
-- unsorted_postings: rows appended after the last sort; weights_avgdl: the mean document length every
-- posting's w was computed at (NULL: none yet).
CREATE TABLE IF NOT EXISTS rag_index_state (
    corpus_bytes BIGINT NOT NULL,
    unsorted_postings BIGINT NOT NULL,
    weights_avgdl DOUBLE
);
