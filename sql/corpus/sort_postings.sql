/* Rewrite the postings sorted by (term_id, doc_id), their weights w at the current mean document length. */
-- Sorted, so zone maps again skip other terms' row groups after many adds; {{avgdl}} is the mean the
-- caller records as rag_index_state.weights_avgdl (retrieval.record_index_state).
CREATE OR REPLACE TABLE rag_postings AS
SELECT term_id, doc_id, tf, len, lh_bm25_tf(tf, len, {{avgdl}}) AS w
FROM rag_postings
ORDER BY term_id, doc_id;
