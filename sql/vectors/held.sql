/* A model's side-store vectors stored after seq $after (in seq order: a later vector of a document wins), to hold in memory. */
SELECT rag_id, vector::FLOAT[] AS vector FROM rag_vectors WHERE model = $model AND seq > $after ORDER BY seq
