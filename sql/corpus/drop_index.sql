/* Drop the retrieval index tables (derived from data/_kb/rag_corpus.jsonl; catch_up rebuilds them). */
DROP TABLE IF EXISTS rag_postings;
DROP TABLE IF EXISTS rag_terms;
DROP TABLE IF EXISTS rag_tokens;
DROP TABLE IF EXISTS rag_stats;
DROP TABLE IF EXISTS rag_index_state;
DROP TABLE IF EXISTS rag_corpus;
