/* Put back the side-store saved before a catalog rebuild (rows of rag_vectors from the Parquet file $path). */
INSERT INTO rag_vectors
SELECT rag_id, model, dim, content_sha, seq, CAST(vector AS FLOAT[{{dim}}])
FROM read_parquet($path)
