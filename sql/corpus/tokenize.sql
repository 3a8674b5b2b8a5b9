/* The retrieval tokenizer, as DuckDB fts's: lower-case, accents stripped, split on digits, punctuation and space. */
-- Stop words (rag_stopwords) are dropped and the rest stemmed with stem(..., 'porter') where terms are made.
CREATE OR REPLACE TEMP MACRO lh_tokenize(s) AS
    string_split_regex(
        regexp_replace(lower(strip_accents(CAST(s AS VARCHAR))), '[0-9!@#$%^&*()_+={}\[\]:;<>,.?~\\/\|''"`-]+', ' ', 'g'),
        '\s+'
    );
