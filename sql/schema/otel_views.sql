/* spans (one row per OpenTelemetry span) and llm_spans (one row per model call, normalised across conventions, priced) over the evidence of otel_spans and otel_logs. */
-- Views, so they are never behind the evidence and copy nothing; the conventions are read through the
-- lh_otel_* macros of sql/otel/conventions.sql (created beside these views). Each JSON document is parsed
-- once (json_transform): a span may carry megabytes of prompt.

CREATE OR REPLACE VIEW spans AS
SELECT
    run_id AS trace_id,
    m.span_id,
    m.parent_span_id,
    m.name,
    m.kind,
    json_extract_string(m.resource, '$.attributes."service.name"') AS service,
    ts AS start_time,
    TRY_CAST(m.end_time AS TIMESTAMPTZ) AS end_time,
    m.duration_ns / 1e6 AS duration_ms,
    m.status.code AS status_code,
    m.status.message AS status_message,
    m.attributes,
    m.events,
    m.links,
    m.resource,
    m.scope,
    evidence_id,
    day
FROM (
    SELECT *, json_transform(metadata, '{"span_id": "VARCHAR", "parent_span_id": "VARCHAR", "name": "VARCHAR",
        "kind": "VARCHAR", "end_time": "VARCHAR", "duration_ns": "BIGINT",
        "status": {"code": "VARCHAR", "message": "VARCHAR"}, "attributes": "JSON", "events": "JSON",
        "links": "JSON", "resource": "JSON", "scope": "JSON"}') AS m
    FROM evidence
    WHERE kind = 'otel_span'
);

CREATE OR REPLACE VIEW llm_spans AS
WITH calls AS (
    SELECT *, lh_otel_fields(attributes) AS f
    FROM spans
),
agents AS (  -- each trace's first agent, for calls whose own span and parent name none
    SELECT trace_id, arg_min(lh_otel_agent(f), start_time) AS trace_agent
    FROM calls
    WHERE lh_otel_agent(f) IS NOT NULL
    GROUP BY trace_id
),
records AS (
    SELECT run_id AS trace_id, ts, source.line AS line, json_transform(metadata, '{"span_id": "VARCHAR",
        "event_name": "VARCHAR", "body": "JSON", "attributes": "JSON"}') AS m
    FROM evidence
    WHERE kind = 'otel_log'
),
events AS (  -- content captured as GenAI event log records, per span
    SELECT
        trace_id,
        m.span_id,
        arg_min(json_extract(m.attributes, '$."gen_ai.input.messages"'), ts)
            FILTER (m.event_name = 'gen_ai.client.inference.operation.details') AS details_input,
        arg_min(json_extract(m.attributes, '$."gen_ai.output.messages"'), ts)
            FILTER (m.event_name = 'gen_ai.client.inference.operation.details') AS details_output,
        -- the older one-record-per-message events: gen_ai.{system,user,assistant,tool}.message and gen_ai.choice
        to_json(list(lh_otel_message(coalesce(m.body, json_object()), split_part(m.event_name, '.', 2)) ORDER BY ts, line)
            FILTER (m.event_name IN ('gen_ai.system.message', 'gen_ai.user.message', 'gen_ai.assistant.message',
                                     'gen_ai.tool.message'))) AS message_events,
        to_json(list(json_merge_patch(lh_otel_message(coalesce(json_extract(m.body, '$.message'), json_object()), 'assistant'),
                                      json_object('finish_reason', json_extract_string(m.body, '$.finish_reason')))
                     ORDER BY ts, line)
            FILTER (m.event_name = 'gen_ai.choice')) AS choice_events
    FROM records
    WHERE m.span_id IS NOT NULL
    GROUP BY trace_id, m.span_id
),
normalised AS (
SELECT
    c.trace_id,
    c.span_id,
    c.parent_span_id,
    c.service,
    coalesce(lh_otel_agent(c.f), lh_otel_agent(parent.f), agents.trace_agent) AS agent,
    lh_otel_operation(c.f) AS operation,
    lh_otel_provider(c.f) AS provider,
    lh_otel_request_model(c.f) AS request_model,
    lh_otel_response_model(c.f) AS response_model,
    lh_otel_model(c.f) AS model,
    lh_otel_input_tokens(c.f) AS input_tokens,
    lh_otel_output_tokens(c.f) AS output_tokens,
    lh_otel_cached_input_tokens(c.f) AS cached_input_tokens,
    lh_otel_reasoning_tokens(c.f) AS reasoning_tokens,
    lh_otel_finish_reasons(c.attributes, c.f) AS finish_reasons,
    coalesce(lh_otel_error_type(c.f), CASE WHEN c.status_code = 'ERROR' THEN coalesce(c.status_message, 'error') END) AS error_type,
    c.duration_ms,
    coalesce(
        lh_otel_messages(c.f."gen_ai.input.messages", 'user'),
        lh_otel_messages(lh_otel_event_attr(c.events, 'gen_ai.client.inference.operation.details', 'gen_ai.input.messages'), 'user'),
        lh_otel_messages(events.details_input, 'user'),
        lh_otel_indexed_messages(c.attributes, 'gen_ai.prompt.', '.', 'user'),
        lh_otel_indexed_messages(c.attributes, 'llm.input_messages.', '.message.', 'user'),
        lh_otel_messages(lh_otel_event_attr(c.events, 'gen_ai.content.prompt', 'gen_ai.prompt'), 'user'),
        events.message_events,
        CASE WHEN c.f."input.value" IS NOT NULL
             THEN json_array(json_object('role', 'user', 'parts', lh_otel_parts(c.f."input.value"))) END
    ) AS input_messages,
    coalesce(
        lh_otel_messages(c.f."gen_ai.output.messages", 'assistant'),
        lh_otel_messages(lh_otel_event_attr(c.events, 'gen_ai.client.inference.operation.details', 'gen_ai.output.messages'), 'assistant'),
        lh_otel_messages(events.details_output, 'assistant'),
        lh_otel_indexed_messages(c.attributes, 'gen_ai.completion.', '.', 'assistant'),
        lh_otel_indexed_messages(c.attributes, 'llm.output_messages.', '.message.', 'assistant'),
        lh_otel_messages(lh_otel_event_attr(c.events, 'gen_ai.content.completion', 'gen_ai.completion'), 'assistant'),
        events.choice_events,
        CASE WHEN c.f."output.value" IS NOT NULL
             THEN json_array(json_object('role', 'assistant', 'parts', lh_otel_parts(c.f."output.value"))) END
    ) AS output_messages,
    c.start_time,
    c.evidence_id,
    c.day
FROM calls AS c
LEFT JOIN calls AS parent ON parent.trace_id = c.trace_id AND parent.span_id = c.parent_span_id  -- fields parsed once
LEFT JOIN agents ON agents.trace_id = c.trace_id
LEFT JOIN events ON events.trace_id = c.trace_id AND events.span_id = c.span_id
WHERE lh_otel_is_model_call(c.f)
)
-- cost_usd from the prices table (NULL where the model has no price that day or the span has no tokens)
SELECT n.*, lh_cost_usd(n.input_tokens, n.output_tokens, p.input_usd_per_mtok, p.output_usd_per_mtok) AS cost_usd
FROM normalised AS n
ASOF LEFT JOIN prices AS p ON n.model = p.model AND n.day >= p.valid_from;
