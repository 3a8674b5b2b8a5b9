/* Retrieval's macros: the tokenizer (as DuckDB fts's) and BM25's term-frequency weight. */

-- The tokenizer: lower-case, accents stripped, split on digits, punctuation and space. Stop words
-- (rag_stopwords) are dropped and the rest stemmed with stem(..., 'porter') where terms are made.
-- One split on runs of both (fts replaces the punctuation with a space, then splits on white space:
-- the same tokens, in one regular expression pass instead of two).
CREATE OR REPLACE TEMP MACRO lh_tokenize(s) AS
    string_split_regex(
        lower(strip_accents(CAST(s AS VARCHAR))),
        '[0-9!@#$%^&*()_+={}\[\]:;<>,.?~\\/\|''"`\s-]+'
    );

-- BM25's weight of a term occurring tf times in a document of len terms (k1 = 1.2, b = 0.75), for
-- a mean document length avgdl; a document's score is the sum over query terms of idf * this.
-- Postings store it as w, computed at rag_index_state.weights_avgdl; where the mean has moved
-- since, queries compute it from tf and len. One expression for both, so both give the same bits.
CREATE OR REPLACE TEMP MACRO lh_bm25_tf(tf, len, avgdl) AS
    (tf * 2.2::DOUBLE) / (tf + 1.2::DOUBLE * (0.25::DOUBLE + 0.75::DOUBLE * len / avgdl));
