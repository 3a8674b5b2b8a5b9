/* The RAG corpus and its BM25 index in the catalog: documents, postings sorted by term, and corpus totals. */
CREATE TABLE IF NOT EXISTS rag_corpus (
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

-- One row per (term, document), inserted sorted by term: min/max zone maps let a query skip the row groups
-- of other terms. (An ART index on term was slower: DuckDB abandons index scans above ~5k matching rows,
-- and fetching tens of thousands of postings through it is slower than a pruned scan.)
CREATE TABLE IF NOT EXISTS rag_postings (
    term VARCHAR NOT NULL,
    rag_id VARCHAR NOT NULL,
    tf INTEGER NOT NULL,
    len INTEGER NOT NULL
);

-- Document frequency per term, kept with the postings, so a query's idf needs no count over them.
CREATE TABLE IF NOT EXISTS rag_terms (term VARCHAR NOT NULL, df BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS rag_stats (docs BIGINT NOT NULL, total_len BIGINT NOT NULL);

-- How many bytes of data/_kb/rag_corpus.jsonl the index has taken in (a cheap staleness check).
CREATE TABLE IF NOT EXISTS rag_index_state (corpus_bytes BIGINT NOT NULL);
