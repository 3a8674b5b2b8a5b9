/* The index term of each query token (written in as constants): NULL for a stop word, else its Porter stem (fts's stem). */
SELECT token, CASE WHEN token IN (SELECT word FROM rag_stopwords) THEN NULL ELSE stem(token, 'porter') END
FROM (SELECT unnest([{{tokens}}]::VARCHAR[]) AS token)
