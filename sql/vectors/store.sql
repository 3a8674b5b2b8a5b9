/* Store new vectors (registered as new_vectors: rag_id, model, content_sha, vector), replacing a document's older one. */
DELETE FROM rag_vectors USING new_vectors AS n
WHERE rag_vectors.rag_id = n.rag_id AND rag_vectors.model = n.model;
INSERT INTO rag_vectors
SELECT rag_id, model, {{dim}}, content_sha, nextval('rag_vector_seq'), CAST(vector AS FLOAT[{{dim}}])
FROM new_vectors
ORDER BY rag_id;
