/* The content hash of the indexed version of each document of `wanted` (rag_id), for those the index holds. */
SELECT rag_id, content_sha FROM rag_corpus WHERE rag_id IN (SELECT rag_id FROM wanted)
