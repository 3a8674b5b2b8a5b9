/* A model's vectors in the side-store: how many, the last seq, and how many were stored after seq $after. */
SELECT count(*), coalesce(max(seq), 0), count(*) FILTER (WHERE seq > $after)
FROM rag_vectors
WHERE model = $model
