/* Add new documents whose rows the caller computed (registered Arrow tables new_documents, new_terms, new_tokens, new_postings, and numbers written in). */
-- The incremental twin of index_docs.sql for documents whose rag_id is not indexed yet: the same
-- rows (tokenizer, stop words, stemmer, id assignment), built by retrieval.append_new_documents.
INSERT INTO rag_corpus
SELECT doc_id, rag_id, title, text, tags, source_evidence_ids, CAST(updated_at AS TIMESTAMPTZ), content_sha, doc_len
FROM new_documents ORDER BY doc_id;

INSERT INTO rag_terms SELECT term_id, term, df FROM new_terms ORDER BY term_id;

-- {{df_changes}}: `(term_id, delta), ...` for known terms the new documents contain ((-1, 0) if none).
UPDATE rag_terms SET df = rag_terms.df + d.delta
FROM (VALUES {{df_changes}}) AS d(term_id, delta)
WHERE rag_terms.term_id = d.term_id;

INSERT INTO rag_tokens SELECT token, term FROM new_tokens WHERE token NOT IN (SELECT token FROM rag_tokens);

-- w at the mean length the other postings' weights were computed at: {{weights_avgdl}}, the caller's
-- rag_index_state.weights_avgdl (a literal: this script is planned on every add).
INSERT INTO rag_postings
SELECT term_id, doc_id, tf, len, lh_bm25_tf(tf, len, {{weights_avgdl}})
FROM new_postings ORDER BY term_id, doc_id;

DELETE FROM rag_stats;

INSERT INTO rag_stats VALUES ({{docs}}, {{total_len}});
