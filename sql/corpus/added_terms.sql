/* Terms of the documents just indexed (the temp table `incoming_terms`), with their new df: a searcher's dictionary update. */
SELECT term, term_id, df FROM rag_terms WHERE term IN (SELECT DISTINCT term FROM incoming_terms)
