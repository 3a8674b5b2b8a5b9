/* Document frequency of the query's terms ({{terms}}: bound parameters), for their idf. */
SELECT term, df FROM rag_terms WHERE term IN ({{terms}})
