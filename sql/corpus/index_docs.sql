/* Add the documents of `incoming_arrow` (registered Arrow batches) to the corpus and its postings, replacing older versions of the same rag_id. */
-- Every statement reads the batches themselves, which DuckDB scans on all its threads: a table copied from them
-- (under 122,880 rows, one row group) was scanned by one. The corpus rows' insert took 0.34 s, now ~0.2.
-- A replaced document keeps its doc_id; a new one gets the next free id. df is adjusted by the postings
-- removed and added, never recounted over the whole table.
CREATE OR REPLACE TEMP TABLE incoming_ids AS
SELECT i.rag_id, c.doc_id AS old_id,
       coalesce(c.doc_id, (SELECT coalesce(max(doc_id), 0) FROM rag_corpus)
                + row_number() OVER (PARTITION BY c.doc_id IS NULL ORDER BY i.rag_id))::INTEGER AS doc_id
FROM incoming_arrow AS i LEFT JOIN rag_corpus AS c USING (rag_id);

CREATE OR REPLACE TEMP TABLE df_delta AS
SELECT term_id, -count(*) AS delta FROM rag_postings
WHERE doc_id IN (SELECT old_id FROM incoming_ids WHERE old_id IS NOT NULL)
GROUP BY term_id;

DELETE FROM rag_postings WHERE doc_id IN (SELECT old_id FROM incoming_ids WHERE old_id IS NOT NULL);

DELETE FROM rag_corpus WHERE rag_id IN (SELECT rag_id FROM incoming_arrow);

CREATE OR REPLACE TEMP TABLE incoming_tokens AS
SELECT n.doc_id, token
FROM (SELECT rag_id, unnest(lh_tokenize(coalesce(title, '') || ' ' || coalesce(text, ''))) AS token FROM incoming_arrow)
JOIN incoming_ids AS n USING (rag_id)
WHERE token <> '' AND token NOT IN (SELECT word FROM rag_stopwords);

-- each distinct token stemmed once (documents repeat a small vocabulary)
CREATE OR REPLACE TEMP TABLE incoming_stems AS
SELECT token, stem(token, 'porter') AS term FROM (SELECT DISTINCT token FROM incoming_tokens);

INSERT INTO rag_terms
SELECT (SELECT coalesce(max(term_id), 0) FROM rag_terms) + row_number() OVER (ORDER BY term), term, 0
FROM (SELECT DISTINCT term FROM incoming_stems WHERE term NOT IN (SELECT term FROM rag_terms))
ORDER BY term;

INSERT INTO rag_tokens
SELECT token, term FROM incoming_stems WHERE token NOT IN (SELECT token FROM rag_tokens);

-- each incoming token's term id (a row per distinct token of the batch; rag_terms holds a term once): the
-- counts below group on integers, not strings
CREATE OR REPLACE TEMP TABLE incoming_token_ids AS
SELECT s.token, r.term_id FROM incoming_stems AS s JOIN rag_terms AS r USING (term);

-- a term's occurrences in a document, counted once: lengths, postings and df are read from these rows
CREATE OR REPLACE TEMP TABLE incoming_tf AS
SELECT t.doc_id, i.term_id, count(*)::INTEGER AS tf
FROM incoming_tokens AS t JOIN incoming_token_ids AS i USING (token)
GROUP BY t.doc_id, i.term_id;

CREATE OR REPLACE TEMP TABLE incoming_lengths AS
SELECT n.doc_id, coalesce(sum(t.tf), 0)::INTEGER AS doc_len
FROM incoming_ids AS n LEFT JOIN incoming_tf AS t USING (doc_id)
GROUP BY n.doc_id;

-- not sorted (a sort's output is inserted by one thread): the rows come in the join's order, and are read by
-- rag_id or doc_id, never by their place in the table
INSERT INTO rag_corpus
SELECT n.doc_id, i.rag_id, i.title, i.text, i.tags, i.source_evidence_ids, CAST(i.updated_at AS TIMESTAMPTZ),
       i.content_sha, l.doc_len
FROM incoming_arrow AS i JOIN incoming_ids AS n USING (rag_id) JOIN incoming_lengths AS l USING (doc_id);

-- w at the mean length the other postings' weights were computed at (rag_index_state.weights_avgdl).
-- An index without other postings weighs its documents at their own mean length and records it as
-- the weights' mean, as a settle would (retrieval.record_index_state then has nothing to re-sort).
CREATE OR REPLACE TEMP TABLE weights_at AS
SELECT CASE WHEN (SELECT count(*) FROM rag_postings) = 0
            THEN (SELECT sum(doc_len) / count(*) FROM rag_corpus)
            ELSE (SELECT any_value(weights_avgdl) FROM rag_index_state) END AS avgdl;

CREATE OR REPLACE TEMP TABLE incoming_postings AS
SELECT t.term_id, t.doc_id, t.tf, l.doc_len AS len
FROM incoming_tf AS t JOIN incoming_lengths AS l USING (doc_id);

INSERT INTO rag_postings
SELECT term_id, doc_id, tf, len, lh_bm25_tf(tf, len, (SELECT avgdl FROM weights_at))
FROM incoming_postings
ORDER BY term_id, doc_id;

UPDATE rag_index_state SET weights_avgdl = (SELECT avgdl FROM weights_at);

INSERT INTO rag_index_state
SELECT 0, 0, avgdl FROM weights_at WHERE NOT EXISTS (SELECT 1 FROM rag_index_state);

INSERT INTO df_delta SELECT term_id, count(*) FROM incoming_postings GROUP BY term_id;

UPDATE rag_terms SET df = rag_terms.df + d.delta
FROM (SELECT term_id, sum(delta) AS delta FROM df_delta GROUP BY term_id) AS d
WHERE rag_terms.term_id = d.term_id;

DELETE FROM rag_stats;

INSERT INTO rag_stats SELECT count(*), coalesce(sum(doc_len), 0) FROM rag_corpus;
