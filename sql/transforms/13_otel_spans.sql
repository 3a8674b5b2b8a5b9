/* otel_spans → otel_span: one OpenTelemetry span (lakehouse otlp serve / otlp import); the model call's model, tokens and outcome read across conventions (sql/otel/conventions.sql). */
-- stream: otel_spans
-- kind: otel_span
-- key: trace_id, span_id
-- time: start_time
-- max_line_bytes: 268435456
-- fields: span_id string, name text, status object, attributes object, resource object, duration_ns integer
-- moved: trace_id string
SELECT
    line_no,
    trace_id AS run_id,
    lh_otel_model(f) AS model,
    lh_join(' — ', [
        name || coalesce(' (' || (json_extract_string(resource, '$.attributes."service.name"')) || ')', ''),
        lh_otel_model(f),
        CASE WHEN lh_otel_input_tokens(f) IS NOT NULL OR lh_otel_output_tokens(f) IS NOT NULL
             THEN coalesce(CAST(lh_otel_input_tokens(f) AS VARCHAR), '?') || ' in / '
                  || coalesce(CAST(lh_otel_output_tokens(f) AS VARCHAR), '?') || ' out tokens' END,
        CASE WHEN duration_ns IS NOT NULL THEN CAST(round(duration_ns / 1e6, 1) AS VARCHAR) || ' ms' END,
        CASE WHEN json_extract_string(status, '$.code') = 'ERROR'
             THEN 'error: ' || coalesce(json_extract_string(status, '$.message'), lh_otel_error_type(f), 'ERROR') END
    ]) AS text,
    CASE WHEN json_extract_string(status, '$.code') IS NOT NULL THEN json_extract_string(status, '$.code') <> 'ERROR' END AS passed,
    lh_otel_input_tokens(f) AS prompt_tokens,
    lh_otel_output_tokens(f) AS completion_tokens,
    lh_ms(duration_ns / 1e6) AS duration_ms,
    lh_tags([
        lh_tag('operation', lh_otel_operation(f)),
        lh_tag('provider', lh_otel_provider(f)),
        lh_tag('service', json_extract_string(resource, '$.attributes."service.name"')),
        lh_tag('agent', lh_otel_agent(f)),
        lh_tag('tool', lh_otel_tool(f)),
        CASE WHEN json_extract_string(status, '$.code') = 'ERROR' THEN 'status:error' END
    ]) AS tags
FROM (SELECT *, lh_otel_fields(attributes) AS f FROM source)  -- the attributes parsed once
