/* A model's side-store rows, to build the HNSW index file from. */
SELECT rag_id, seq, vector FROM rag_vectors WHERE model = $model ORDER BY seq
