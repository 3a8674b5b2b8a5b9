/* The rag_ids of a model's vectors stored after seq $after (newer than what the HNSW index holds). */
SELECT rag_id FROM rag_vectors WHERE model = $model AND seq > $after
