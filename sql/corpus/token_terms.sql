/* Every corpus token with its index term, loaded once per searcher (query words are looked up, not stemmed). */
SELECT token, term FROM rag_tokens
