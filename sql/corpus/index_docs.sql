/* Add the documents of the `incoming` table to the corpus and its postings, replacing older versions of the same rag_id. */
-- `incoming_arrow`: the same documents as registered Arrow batches, tokenized in parallel.
-- A replaced document keeps its doc_id; a new one gets the next free id. df is adjusted by the postings
-- removed and added, never recounted over the whole table.
CREATE OR REPLACE TEMP TABLE incoming_ids AS
SELECT i.rag_id, c.doc_id AS old_id,
       coalesce(c.doc_id, (SELECT coalesce(max(doc_id), 0) FROM rag_corpus)
                + row_number() OVER (PARTITION BY c.doc_id IS NULL ORDER BY i.rag_id))::INTEGER AS doc_id
FROM incoming AS i LEFT JOIN rag_corpus AS c USING (rag_id);

CREATE OR REPLACE TEMP TABLE df_delta AS
SELECT term_id, -count(*) AS delta FROM rag_postings
WHERE doc_id IN (SELECT old_id FROM incoming_ids WHERE old_id IS NOT NULL)
GROUP BY term_id;

DELETE FROM rag_postings WHERE doc_id IN (SELECT old_id FROM incoming_ids WHERE old_id IS NOT NULL);

DELETE FROM rag_corpus WHERE rag_id IN (SELECT rag_id FROM incoming);

CREATE OR REPLACE TEMP TABLE incoming_tokens AS
SELECT n.doc_id, token
FROM (SELECT rag_id, unnest(lh_tokenize(coalesce(title, '') || ' ' || coalesce(text, ''))) AS token FROM incoming_arrow)
JOIN incoming_ids AS n USING (rag_id)
WHERE token <> '' AND token NOT IN (SELECT word FROM rag_stopwords);

-- each distinct token stemmed once (documents repeat a small vocabulary)
CREATE OR REPLACE TEMP TABLE incoming_terms AS
SELECT t.doc_id, t.token, s.term
FROM incoming_tokens AS t
JOIN (SELECT token, stem(token, 'porter') AS term FROM (SELECT DISTINCT token FROM incoming_tokens)) AS s USING (token);

CREATE OR REPLACE TEMP TABLE incoming_lengths AS
SELECT n.doc_id, count(t.term)::INTEGER AS doc_len
FROM incoming_ids AS n LEFT JOIN incoming_terms AS t USING (doc_id)
GROUP BY n.doc_id;

INSERT INTO rag_corpus
SELECT n.doc_id, i.rag_id, i.title, i.text, i.tags, i.source_evidence_ids, i.updated_at, i.content_sha, l.doc_len
FROM incoming AS i JOIN incoming_ids AS n USING (rag_id) JOIN incoming_lengths AS l USING (doc_id)
ORDER BY n.doc_id;

INSERT INTO rag_terms
SELECT (SELECT coalesce(max(term_id), 0) FROM rag_terms) + row_number() OVER (ORDER BY term), term, 0
FROM (SELECT DISTINCT term FROM incoming_terms WHERE term NOT IN (SELECT term FROM rag_terms))
ORDER BY term;

INSERT INTO rag_tokens
SELECT DISTINCT token, term FROM incoming_terms WHERE token NOT IN (SELECT token FROM rag_tokens);

-- w at the mean length the other postings' weights were computed at (rag_index_state.weights_avgdl).
INSERT INTO rag_postings
SELECT term_id, doc_id, tf, len, lh_bm25_tf(tf, len, (SELECT any_value(weights_avgdl) FROM rag_index_state))
FROM (
    SELECT r.term_id, t.doc_id, count(*)::INTEGER AS tf, any_value(l.doc_len) AS len
    FROM incoming_terms AS t JOIN rag_terms AS r USING (term) JOIN incoming_lengths AS l USING (doc_id)
    GROUP BY r.term_id, t.doc_id
)
ORDER BY term_id, doc_id;

INSERT INTO df_delta
SELECT r.term_id, count(DISTINCT t.doc_id) FROM incoming_terms AS t JOIN rag_terms AS r USING (term) GROUP BY r.term_id;

UPDATE rag_terms SET df = rag_terms.df + d.delta
FROM (SELECT term_id, sum(delta) AS delta FROM df_delta GROUP BY term_id) AS d
WHERE rag_terms.term_id = d.term_id;

DELETE FROM rag_stats;

INSERT INTO rag_stats SELECT count(*), coalesce(sum(doc_len), 0) FROM rag_corpus;
