/* The latest version of each playbook in the evidence, as RAG documents (rag_id = rag:<playbook_id>), each with its content hash and corpus line. */
-- The metadata's fields read once a row (each ->> parses the metadata again): 83,333 playbooks 0.57 -> 0.44 s.
-- $receipt_ids: only the playbooks of which these runs wrote a version (their rows found by the runs'
-- receipt_id, which Parquet's statistics skip other parts for), all their versions compared; NULL: all.
WITH playbooks AS (
    SELECT metadata ->> '$.playbook_id' AS playbook_id, metadata ->> '$.title' AS title,
           metadata ->> '$.version' AS version, text, tags, evidence_id, ts
    FROM read_parquet($glob, hive_partitioning = false, union_by_name = true)
    WHERE kind = 'playbook'
      AND ($receipt_ids IS NULL OR (metadata ->> '$.playbook_id') IN (
          SELECT metadata ->> '$.playbook_id'
          FROM read_parquet($glob, hive_partitioning = false, union_by_name = true)
          WHERE kind = 'playbook' AND receipt_id IN (SELECT unnest($receipt_ids))
      ))
)
-- content_sha and line are retrieval.corpus's content_sha() and corpus_line(): JSON written as Python's json
-- module writes it. DuckDB's to_json writes the same text, except \u000B where Python writes \u000b: plain is
-- false for a document holding such a character, a null list item (tag or evidence id), no update time, or a
-- text Python's str.strip() might find blank (corpus.playbooks drops those), and such a batch is distilled by
-- Python (corpus.documents_of).
, documents AS (
    SELECT
        'rag:' || playbook_id AS rag_id,
        coalesce(title, '') AS title,
        text,
        coalesce(tags, []) AS tags,
        [evidence_id] AS source_evidence_ids,
        ts AS updated_at
    FROM playbooks
    WHERE regexp_full_match(playbook_id, '[A-Za-z0-9_.\-]+')
      AND regexp_matches(text, '\S')  -- a version without title and steps is no document: the latest with text is
    QUALIFY row_number() OVER (
        PARTITION BY playbook_id
        ORDER BY TRY_CAST(version AS BIGINT) DESC NULLS LAST, ts DESC, evidence_id
    ) = 1
),
written AS (
    SELECT *,
           to_json(title)::VARCHAR AS title_json,
           to_json(text)::VARCHAR AS text_json,
           list_transform(tags, t -> to_json(t)::VARCHAR) AS tags_json
    FROM documents
)
SELECT
    rag_id,
    title,
    text,
    tags,
    source_evidence_ids,
    updated_at,
    sha256('[' || title_json || ', ' || text_json || ', [' || array_to_string(tags_json, ', ') || ']]') AS content_sha,
    '{"rag_id":' || to_json(rag_id)::VARCHAR || ',"title":' || title_json || ',"text":' || text_json
        || ',"tags":[' || array_to_string(tags_json, ',') || '],"source_evidence_ids":['
        || array_to_string(list_transform(source_evidence_ids, s -> to_json(s)::VARCHAR), ',')
        || '],"updated_at":' || to_json(updated_at)::VARCHAR || '}' || chr(10) AS line,
    coalesce(
        NOT regexp_matches(concat(title, text, updated_at, array_to_string(tags, ''), source_evidence_ids[1]),
                           '[\x0b\x0e\x0f\x1a-\x1f]')
        AND regexp_matches(text, '[!-~]')
        AND updated_at <> ''
        AND list_position(tags, NULL) IS NULL
        AND list_position(source_evidence_ids, NULL) IS NULL,
        false
    ) AS plain
FROM written
ORDER BY rag_id
