/* What the attached HNSW index file was built from. */
SELECT model, dim, built_seq, vectors FROM vector_index.index_stamp
