/* Record a calibrated fusion weight (the next hybrid query of this model uses it). */
INSERT INTO fusion_weights (model, lexical_weight, corpus_version, documents, queries, objective)
VALUES ($model, $lexical_weight, $corpus_version, $documents, $queries, $objective);
