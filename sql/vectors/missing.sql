/* Corpus documents without a vector of their current version for model $model: what reindex embeds. */
SELECT c.rag_id, c.content_sha, c.title, c.text
FROM rag_corpus AS c
WHERE NOT EXISTS (
    SELECT 1 FROM rag_vectors AS v
    WHERE v.model = $model AND v.rag_id = c.rag_id AND v.content_sha = c.content_sha
)
ORDER BY c.rag_id
