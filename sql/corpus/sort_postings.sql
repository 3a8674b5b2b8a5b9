/* Rewrite the postings sorted by (term_id, doc_id), so zone maps again skip other terms' row groups after many adds. */
CREATE OR REPLACE TABLE rag_postings AS SELECT * FROM rag_postings ORDER BY term_id, doc_id;
