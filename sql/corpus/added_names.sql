/* doc_id, rag_id and title of the documents just indexed (the temp table `incoming_ids`), and whether any replaced an older version. */
SELECT c.doc_id, c.rag_id, coalesce(c.title, ''), i.old_id IS NOT NULL AS replaced
FROM incoming_ids AS i JOIN rag_corpus AS c USING (doc_id)
