/* A query's tokens by the SQL tokenizer (used for text outside ASCII, where Python's lower() may differ). */
SELECT lh_tokenize($query)
