/* Every corpus document's current version (reindex before any vector exists). */
SELECT rag_id, content_sha, title, text FROM rag_corpus ORDER BY rag_id
