/* A query's distinct terms, through the same tokenizer, stop words and stemmer as the documents. */
SELECT DISTINCT stem(token, 'porter') AS term
FROM (SELECT unnest(lh_tokenize($query)) AS token)
WHERE token <> '' AND token NOT IN (SELECT word FROM rag_stopwords)
ORDER BY term
