/* Title and text of retrieved documents (a point lookup through the index on rag_id). */
SELECT rag_id, title, text FROM rag_corpus WHERE rag_id IN ({{ids}})
