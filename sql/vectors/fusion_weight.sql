/* The latest calibrated fusion weight of an embedding model: (lexical_weight, corpus_version, documents, queries, objective). */
SELECT lexical_weight, corpus_version, documents, queries, objective
FROM fusion_weights
WHERE model = $model
ORDER BY tuned_at DESC, rowid DESC
LIMIT 1;
