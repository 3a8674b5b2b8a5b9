/* BM25 top-k (k1 = 1.2, b = 0.75) of several queries in one statement, as query_no, doc_id and score: the queries that queued up while others ran. */
-- One statement's fixed cost (planning, and the GIL hand-offs of DuckDB's Python client) paid once
-- for the batch instead of once per query. The slots hold numbers the caller computed, written as
-- literals by sqlfiles.number_literal (retrieval.ranked_many):
--   query_terms: `(query_no, term_id, idf), ...` for every term of every query, idf as search.sql's;
--   terms_filter: `WHERE p.term_id IN (<every term id of the batch>)`, so the postings scan prunes
--                row groups as search.sql's, or empty where the batch's terms touch most row groups
--                anyway (the join below filters alike; the IN list is a hash join of its own);
--   tf_part:     as search.sql's;
--   limit:       the largest row count the batch's queries ask for (each query gets at least its
--                own; ties are broken by the caller, as for search.sql).
-- Scores as search.sql and search_prepared.sql; keep the three alike.
WITH query_terms(query_no, term_id, idf) AS (VALUES {{query_terms}}),
scored AS (
    SELECT q.query_no,
           p.doc_id,
           sum(q.idf * {{tf_part}}) AS score
    FROM rag_postings AS p
    JOIN query_terms AS q ON q.term_id = p.term_id
    {{terms_filter}}
    GROUP BY q.query_no, p.doc_id
)
SELECT query_no, doc_id, score
FROM scored
QUALIFY row_number() OVER (PARTITION BY query_no ORDER BY score DESC) <= {{limit}}
