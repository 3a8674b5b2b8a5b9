/* Approximate nearest neighbours from the HNSW index file (attached as vector_index). */
-- {{query}} must be a constant FLOAT[dim] literal: with a bound parameter DuckDB does not use the index.
SELECT rag_id, array_cosine_distance(vector, {{query}}) AS distance
FROM vector_index.hnsw_vectors
ORDER BY distance
LIMIT {{limit}}
