/* The captured model calls a replay --of span:ID / spans:"PREDICATE" selects from llm_spans ({{where}}: the selection), oldest first. */
SELECT trace_id, span_id, service, model, CAST(input_messages AS VARCHAR) AS input_messages,
       CAST(output_messages AS VARCHAR) AS output_messages, input_tokens, output_tokens,
       CAST(round(duration_ms) AS BIGINT) AS duration_ms, error_type
FROM llm_spans
WHERE {{where}}
ORDER BY start_time, trace_id, span_id
