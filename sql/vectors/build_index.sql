/* The HNSW index file's contents (a fresh, disposable file): vectors from side_rows, the index, its stamp. */
-- The stamp (model, dim, built_seq, vectors) says what the file was built from; {{dim}}: the dimension.
CREATE TABLE hnsw_vectors AS SELECT rag_id, seq, CAST(vector AS FLOAT[{{dim}}]) AS vector FROM side_rows;
CREATE INDEX hnsw_cosine ON hnsw_vectors USING HNSW (vector) WITH (metric = 'cosine');
CREATE TABLE index_stamp AS SELECT * FROM stamp_row;
