/* Every term of the index with its id and document frequency, loaded once per searcher. */
SELECT term, term_id, df FROM rag_terms
