/* BM25 top-k (k1 = 1.2, b = 0.75) over the query terms' postings, as doc_id and score: prepared once per connection and shape, executed per query. */
-- The query terms come in as a VALUES list of typed parameters joined to the postings, one row
-- per term: its term_id and its idf = log10((N - df + 0.5) / (df + 0.5) + 1). The slots, filled
-- when the statement is prepared (retrieval._top):
--   query_terms: the parameter pairs, e.g. `($t0::INTEGER, $w0::DOUBLE), ($t1::INTEGER, $w1::DOUBLE)`;
--   tf_part:     `w`, the postings' stored lh_bm25_tf, or `lh_bm25_tf(tf, len, $avgdl::DOUBLE)` (see search.sql);
--   limit:       k and a few more (the caller breaks ties by rag_id, with search.sql past them).
-- Why a join: a parameter in the scan's filter (`term_id IN ($t0, ...)`) makes DuckDB plan the
-- statement again on every EXECUTE; a join does not, and its runtime join filter still skips the
-- row groups of other terms. search.sql scores the same way in one shot; keep the two alike.
SELECT doc_id,
       sum(q.idf * {{tf_part}}) AS score
FROM (VALUES {{query_terms}}) AS q(term_id, idf)
JOIN rag_postings USING (term_id)
GROUP BY doc_id
ORDER BY score DESC
LIMIT {{limit}}
