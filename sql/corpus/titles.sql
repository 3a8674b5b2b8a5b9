/* Every document's id, rag_id and title, loaded once per searcher to name the scored doc_ids. */
SELECT doc_id, rag_id, coalesce(title, '') FROM rag_corpus
