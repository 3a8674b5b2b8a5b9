/* A slice of one day of the run's fresh evidence as evidence_record.v1 rows in source order, each with its JSONL line. */
-- One query per day keeps memory to a day's rows (a single ORDER BY day held the whole run: +550 MB RSS);
-- a day of more rows than a slice holds is read in slices of transforms and line ranges (materialize/day_slices).
SELECT
    'evidence_record.v1' AS schema,
    evidence_id,
    kind,
    day,
    ts,
    source,
    run_id,
    task_id,
    model,
    text,
    passed,
    score,
    prompt_tokens,
    completion_tokens,
    duration_ms,
    tags,
    metadata::VARCHAR AS metadata,
    $receipt_id AS receipt_id,
    -- to_json() of a struct holding the JSON metadata re-parses it (slow); it is spliced in as text instead.
    concat(
        left(to_json({
            'schema': 'evidence_record.v1',
            'evidence_id': evidence_id,
            'kind': kind,
            'day': day,
            'ts': ts,
            'source': source,
            'run_id': run_id,
            'task_id': task_id,
            'model': model,
            'text': text,
            'passed': passed,
            'score': score,
            'prompt_tokens': prompt_tokens,
            'completion_tokens': completion_tokens,
            'duration_ms': duration_ms,
            'tags': tags
        })::VARCHAR, -1),
        ',"metadata":', metadata::VARCHAR,
        ',"receipt_id":', to_json($receipt_id)::VARCHAR,
        '}', chr(10)
    ) AS jsonl_line
FROM fresh
WHERE day = $day
  AND transform_order BETWEEN $first_order AND $last_order
  AND line_no BETWEEN $first_line AND $last_line
ORDER BY transform_order, line_no
