/* Exact nearest neighbours by cosine distance over a model's side-store rows stored after seq $after. */
-- {{query}}: the query vector as a FLOAT[dim] literal; {{limit}}: how many.
SELECT rag_id, array_cosine_distance(vector, {{query}}) AS distance
FROM rag_vectors
WHERE model = $model AND seq > $after
ORDER BY distance, rag_id
LIMIT {{limit}}
