/* BM25 top-k (k1 = 1.2, b = 0.75) over the query terms' postings, as doc_id and score: one-shot SQL with the values written in. */
-- The slots hold numbers the caller computed (from rag_terms and rag_stats), written as literals by
-- sqlfiles.number_literal, so the IN list prunes row groups when the statement is planned:
--   terms:   the query's term ids;
--   weights: `WHEN term_id THEN idf ...` with idf = log10((N - df + 0.5) / (df + 0.5) + 1);
--   tf_part: `w`, the postings' stored lh_bm25_tf (sql/corpus/macros.sql) while it was computed at
--            the current mean document length, else `lh_bm25_tf(tf, len, <mean length>)`;
--   having:  empty, or `HAVING score >= <tied score>` (every document at a tie: the caller breaks
--            ties by rag_id, asking for a few more than k rows first);
--   limit:   k and a few more, or the number of documents.
-- Ties are left in any order: the caller sees them in the rows past k and breaks them by rag_id.
-- search_prepared.sql scores the same way for a connection's repeated queries; keep the two alike.
SELECT doc_id,
       sum(CASE term_id {{weights}} END * {{tf_part}}) AS score
FROM rag_postings
WHERE term_id IN ({{terms}})
GROUP BY doc_id
{{having}}
ORDER BY score DESC
LIMIT {{limit}}
