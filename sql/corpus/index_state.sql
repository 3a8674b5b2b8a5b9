/* The index's bookkeeping in one row: postings, documents and their total length, unsorted postings, the weights' mean length. */
-- Documents, total length, unsorted postings and weights_avgdl are NULL before the first index.
SELECT (SELECT count(*) FROM rag_postings) AS postings,
       s.docs,
       s.total_len,
       i.unsorted_postings,
       i.weights_avgdl
FROM (SELECT 1) AS one
LEFT JOIN rag_stats AS s ON true
LEFT JOIN rag_index_state AS i ON true
