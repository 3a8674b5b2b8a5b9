/* Add the documents of the `incoming` table to the corpus and its postings, replacing older versions of the same rag_id. */
CREATE OR REPLACE TEMP TABLE touched_terms AS
SELECT DISTINCT term FROM rag_postings WHERE rag_id IN (SELECT rag_id FROM incoming);

DELETE FROM rag_postings WHERE rag_id IN (SELECT rag_id FROM incoming);

DELETE FROM rag_corpus WHERE rag_id IN (SELECT rag_id FROM incoming);

CREATE OR REPLACE TEMP TABLE incoming_terms AS
SELECT rag_id, stem(token, 'porter') AS term
FROM (SELECT rag_id, unnest(lh_tokenize(coalesce(title, '') || ' ' || coalesce(text, ''))) AS token FROM incoming)
WHERE token <> '' AND token NOT IN (SELECT word FROM rag_stopwords);

CREATE OR REPLACE TEMP TABLE incoming_lengths AS
SELECT i.rag_id, count(t.term)::INTEGER AS doc_len
FROM incoming AS i LEFT JOIN incoming_terms AS t USING (rag_id)
GROUP BY i.rag_id;

INSERT INTO rag_corpus
SELECT i.rag_id, i.title, i.text, i.tags, i.source_evidence_ids, i.updated_at, i.content_sha, l.doc_len
FROM incoming AS i JOIN incoming_lengths AS l USING (rag_id);

INSERT INTO rag_postings
SELECT t.term, t.rag_id, count(*)::INTEGER AS tf, any_value(l.doc_len) AS len
FROM incoming_terms AS t JOIN incoming_lengths AS l USING (rag_id)
GROUP BY t.term, t.rag_id
ORDER BY t.term;

INSERT INTO touched_terms SELECT DISTINCT term FROM incoming_terms;

DELETE FROM rag_terms WHERE term IN (SELECT term FROM touched_terms);

INSERT INTO rag_terms
SELECT term, count(*) FROM rag_postings WHERE term IN (SELECT term FROM touched_terms) GROUP BY term ORDER BY term;

DELETE FROM rag_stats;

INSERT INTO rag_stats SELECT count(*), coalesce(sum(doc_len), 0) FROM rag_corpus;
