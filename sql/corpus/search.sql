/* BM25 top-k (k1 = 1.2, b = 0.75, idf = log10((N - df + 0.5) / (df + 0.5) + 1), as DuckDB fts) over the query terms' postings. */
-- {{terms}} is a list of bound parameters ($t0, $t1, ...): constants are pushed into the scan and its zone maps.
WITH matched AS (
    SELECT term, rag_id, tf, len, count(*) OVER (PARTITION BY term) AS df
    FROM rag_postings
    WHERE term IN ({{terms}})
),
stats AS (
    SELECT docs::DOUBLE AS n, total_len / greatest(docs, 1) AS avgdl FROM rag_stats
),
scores AS (
    SELECT
        m.rag_id,
        sum(
            log10((s.n - m.df + 0.5) / (m.df + 0.5) + 1)
            * (m.tf * (1.2 + 1)) / (m.tf + 1.2 * (1 - 0.75 + 0.75 * m.len / s.avgdl))
        ) AS score
    FROM matched AS m, stats AS s
    GROUP BY m.rag_id
    ORDER BY score DESC, m.rag_id
    LIMIT $k
)
SELECT rag_id, score FROM scores ORDER BY score DESC, rag_id
