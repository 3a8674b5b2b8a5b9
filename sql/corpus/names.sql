/* rag_id and title of the given doc_ids (documents indexed after a searcher read its dictionaries). */
SELECT doc_id, rag_id, coalesce(title, '') FROM rag_corpus WHERE doc_id IN ({{ids}})
