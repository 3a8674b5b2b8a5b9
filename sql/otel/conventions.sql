/* The GenAI conventions read into one set of columns: OpenTelemetry gen_ai.* (current and deprecated names), OpenInference and OpenLLMetry (README, "The mapping"). */
-- Lambda parameters are named lh_* so that they never capture a column of the query a macro is used in.
-- Created in materialize's connections (the otel_spans transform), in the catalog and in the lake, so the
-- evidence columns and the spans/llm_spans views read attributes through the same macros. Plain SQL only:
-- analysts attaching the catalog or the lake use them too. To read another spelling, add it to the
-- coalesce of its column (the first name present wins, in the order written).

-- An attribute of a span's flattened `attributes` object (keys hold dots, hence the quoted path); for the
-- attributes read by name below, lh_otel_fields parses the object once instead.
CREATE OR REPLACE MACRO lh_otel_get(a, key) AS json_extract(a, '$."' || key || '"');
CREATE OR REPLACE MACRO lh_otel_text(a, key) AS json_extract_string(a, '$."' || key || '"');

-- Every attribute the columns below read, parsed out of the attributes in one pass (a span can carry
-- megabytes of prompt: each json_extract would parse all of it again). Numbers arrive as text; integers
-- sent as numbers or as strings ("12") read alike. A new spelling is added here and to its column.
CREATE OR REPLACE MACRO lh_otel_fields(a) AS json_transform(a, '{
    "gen_ai.operation.name": "VARCHAR", "openinference.span.kind": "VARCHAR", "llm.request.type": "VARCHAR",
    "gen_ai.provider.name": "VARCHAR", "gen_ai.system": "VARCHAR", "llm.provider": "VARCHAR", "llm.system": "VARCHAR",
    "gen_ai.request.model": "VARCHAR", "llm.request.model": "VARCHAR", "llm.model_name": "VARCHAR",
    "gen_ai.response.model": "VARCHAR", "llm.response.model": "VARCHAR",
    "gen_ai.usage.input_tokens": "VARCHAR", "gen_ai.usage.prompt_tokens": "VARCHAR",
    "llm.token_count.prompt": "VARCHAR", "llm.usage.prompt_tokens": "VARCHAR",
    "gen_ai.usage.output_tokens": "VARCHAR", "gen_ai.usage.completion_tokens": "VARCHAR",
    "llm.token_count.completion": "VARCHAR", "llm.usage.completion_tokens": "VARCHAR",
    "gen_ai.usage.total_tokens": "VARCHAR", "llm.usage.total_tokens": "VARCHAR", "llm.token_count.total": "VARCHAR",
    "gen_ai.usage.cache_read.input_tokens": "VARCHAR", "gen_ai.usage.cache_read_input_tokens": "VARCHAR",
    "llm.token_count.prompt_details.cache_read": "VARCHAR", "llm.usage.cache_read_input_tokens": "VARCHAR",
    "gen_ai.usage.reasoning.output_tokens": "VARCHAR", "gen_ai.usage.reasoning_tokens": "VARCHAR",
    "llm.token_count.completion_details.reasoning": "VARCHAR", "llm.usage.reasoning_tokens": "VARCHAR",
    "gen_ai.agent.name": "VARCHAR", "agent.name": "VARCHAR", "gen_ai.tool.name": "VARCHAR", "tool.name": "VARCHAR",
    "error.type": "VARCHAR", "gen_ai.response.finish_reasons": "JSON",
    "gen_ai.input.messages": "JSON", "gen_ai.output.messages": "JSON", "input.value": "JSON", "output.value": "JSON"
}');
CREATE OR REPLACE MACRO lh_otel_int(text) AS TRY_CAST(text AS BIGINT);

-- The columns, each from the fields (f = lh_otel_fields(attributes)); the first spelling present wins.
-- operation: gen_ai.operation.name; OpenInference's span kind; OpenLLMetry's request type.
CREATE OR REPLACE MACRO lh_otel_operation(f) AS coalesce(
    f."gen_ai.operation.name",
    CASE upper(f."openinference.span.kind")
        WHEN 'LLM' THEN 'chat' WHEN 'EMBEDDING' THEN 'embeddings' WHEN 'TOOL' THEN 'execute_tool'
        WHEN 'AGENT' THEN 'invoke_agent' WHEN 'RETRIEVER' THEN 'retrieval' WHEN 'RERANKER' THEN 'rerank'
        WHEN 'CHAIN' THEN 'chain' END,
    CASE lower(f."llm.request.type")
        WHEN 'chat' THEN 'chat' WHEN 'completion' THEN 'text_completion' WHEN 'embedding' THEN 'embeddings'
        WHEN 'rerank' THEN 'rerank' END);

-- provider: gen_ai.provider.name; gen_ai.system (deprecated); OpenInference's llm.provider, llm.system.
CREATE OR REPLACE MACRO lh_otel_provider(f) AS coalesce(
    f."gen_ai.provider.name", f."gen_ai.system", f."llm.provider", f."llm.system");

CREATE OR REPLACE MACRO lh_otel_request_model(f) AS coalesce(
    f."gen_ai.request.model", f."llm.request.model", f."llm.model_name");

CREATE OR REPLACE MACRO lh_otel_response_model(f) AS coalesce(f."gen_ai.response.model", f."llm.response.model");

-- model: the model that answered, else the one asked for.
CREATE OR REPLACE MACRO lh_otel_model(f) AS coalesce(lh_otel_response_model(f), lh_otel_request_model(f));

-- A model call: a span whose operation calls a model, or one with a model and no operation at all.
CREATE OR REPLACE MACRO lh_otel_is_model_call(f) AS
    coalesce(lh_otel_operation(f) IN ('chat', 'text_completion', 'generate_content', 'embeddings', 'completion'),
             lh_otel_model(f) IS NOT NULL);

-- Tokens as sent: gen_ai.usage.input_tokens; gen_ai.usage.prompt_tokens (deprecated); OpenInference's
-- llm.token_count.prompt; OpenLLMetry's llm.usage.prompt_tokens.
CREATE OR REPLACE MACRO lh_otel_sent_input_tokens(f) AS lh_otel_int(coalesce(
    f."gen_ai.usage.input_tokens", f."gen_ai.usage.prompt_tokens", f."llm.token_count.prompt",
    f."llm.usage.prompt_tokens"));

CREATE OR REPLACE MACRO lh_otel_sent_output_tokens(f) AS lh_otel_int(coalesce(
    f."gen_ai.usage.output_tokens", f."gen_ai.usage.completion_tokens", f."llm.token_count.completion",
    f."llm.usage.completion_tokens"));

-- A total (OpenLLMetry's llm.usage.total_tokens, OpenInference's llm.token_count.total) fills in the side
-- that was not sent.
CREATE OR REPLACE MACRO lh_otel_total_tokens(f) AS lh_otel_int(coalesce(
    f."gen_ai.usage.total_tokens", f."llm.usage.total_tokens", f."llm.token_count.total"));

CREATE OR REPLACE MACRO lh_otel_input_tokens(f) AS coalesce(
    lh_otel_sent_input_tokens(f), lh_otel_total_tokens(f) - lh_otel_sent_output_tokens(f));

CREATE OR REPLACE MACRO lh_otel_output_tokens(f) AS coalesce(
    lh_otel_sent_output_tokens(f), lh_otel_total_tokens(f) - lh_otel_sent_input_tokens(f));

CREATE OR REPLACE MACRO lh_otel_cached_input_tokens(f) AS lh_otel_int(coalesce(
    f."gen_ai.usage.cache_read.input_tokens", f."gen_ai.usage.cache_read_input_tokens",
    f."llm.token_count.prompt_details.cache_read", f."llm.usage.cache_read_input_tokens"));

CREATE OR REPLACE MACRO lh_otel_reasoning_tokens(f) AS lh_otel_int(coalesce(
    f."gen_ai.usage.reasoning.output_tokens", f."gen_ai.usage.reasoning_tokens",
    f."llm.token_count.completion_details.reasoning", f."llm.usage.reasoning_tokens"));

CREATE OR REPLACE MACRO lh_otel_agent(f) AS coalesce(f."gen_ai.agent.name", f."agent.name");

CREATE OR REPLACE MACRO lh_otel_tool(f) AS coalesce(f."gen_ai.tool.name", f."tool.name");

CREATE OR REPLACE MACRO lh_otel_error_type(f) AS f."error.type";

-- A JSON value, or the JSON a string holds (span attributes carry structured values as JSON strings).
CREATE OR REPLACE MACRO lh_otel_json(v) AS
    CASE WHEN json_type(v) = 'VARCHAR' AND json_valid(json_extract_string(v, '$')) THEN json(json_extract_string(v, '$'))
         WHEN json_type(v) = 'VARCHAR' THEN NULL ELSE v END;

-- Message content as GenAI parts: a string is one text part; a list of parts keeps each part, an
-- OpenAI-style {type, text} becoming {type, content}.
CREATE OR REPLACE MACRO lh_otel_parts(content) AS
    CASE WHEN content IS NULL OR json_type(content) = 'NULL' THEN json('[]')
         WHEN json_type(content) = 'ARRAY' THEN to_json(list_transform(json_extract(content, '$[*]'),
             lambda lh_part: CASE WHEN json_type(lh_part) = 'OBJECT' AND json_exists(lh_part, '$.content') THEN lh_part
                       WHEN json_type(lh_part) = 'OBJECT' THEN json_object('type', coalesce(json_extract_string(lh_part, '$.type'), 'text'), 'content', coalesce(json_extract(lh_part, '$.text'), lh_part))
                       ELSE json_object('type', 'text', 'content', lh_part) END))
         ELSE json_array(json_object('type', 'text', 'content', content)) END;

-- One message in the GenAI shape {role, parts: [{type, content}], finish_reason?}: kept when it has parts,
-- else built from an older {role, content} (or OpenAI's {role, content, tool_calls}).
CREATE OR REPLACE MACRO lh_otel_message(m, default_role) AS
    CASE WHEN json_exists(m, '$.parts') THEN m
         ELSE json_merge_patch(
             json_object('role', coalesce(json_extract_string(m, '$.role'), default_role), 'parts', lh_otel_parts(json_extract(m, '$.content'))),
             json_object('finish_reason', json_extract_string(m, '$.finish_reason'))) END;

-- A list of messages in any of the shapes above (or a JSON string holding one) in the GenAI shape; NULL
-- when it is not a list.
CREATE OR REPLACE MACRO lh_otel_messages(v, default_role) AS
    CASE WHEN json_type(lh_otel_json(v)) = 'ARRAY'
         THEN to_json(list_transform(json_extract(lh_otel_json(v), '$[*]'), lambda lh_msg: lh_otel_message(lh_msg, default_role))) END;

-- Messages spread over indexed attributes, as OpenLLMetry (gen_ai.prompt.0.role, gen_ai.prompt.0.content)
-- and OpenInference (llm.input_messages.0.message.role) send them: prefix || N || infix || field.
CREATE OR REPLACE MACRO lh_otel_indexed_count(a, prefix) AS
    list_max(list_transform(list_filter(json_keys(a), lambda lh_key: starts_with(lh_key, prefix)),
                            lambda lh_key: TRY_CAST(split_part(substr(lh_key, length(prefix) + 1), '.', 1) AS INTEGER)));

CREATE OR REPLACE MACRO lh_otel_indexed_messages(a, prefix, infix, default_role) AS
    CASE WHEN lh_otel_indexed_count(a, prefix) IS NOT NULL THEN to_json(list_transform(
        range(lh_otel_indexed_count(a, prefix) + 1),
        lambda lh_i: json_merge_patch(
            json_object('role', coalesce(lh_otel_text(a, prefix || lh_i || infix || 'role'), default_role),
                        'parts', lh_otel_parts(lh_otel_get(a, prefix || lh_i || infix || 'content'))),
            json_object('finish_reason', lh_otel_text(a, prefix || lh_i || infix || 'finish_reason')))))
    END;

-- The attribute of the first span event of a name (events as flattened: [{name, time, attributes}]).
CREATE OR REPLACE MACRO lh_otel_event_attr(events, event_name, key) AS
    lh_otel_get(json_extract(list_filter(json_extract(events, '$[*]'), lambda lh_event: json_extract_string(lh_event, '$.name') = event_name)[1], '$.attributes'), key);

-- finish_reasons: gen_ai.response.finish_reasons (a list, or a JSON string of one); OpenLLMetry's
-- gen_ai.completion.N.finish_reason (a = the attributes, f = their fields).
CREATE OR REPLACE MACRO lh_otel_finish_reasons(a, f) AS coalesce(
    CASE WHEN json_type(lh_otel_json(f."gen_ai.response.finish_reasons")) = 'ARRAY'
         THEN json_extract_string(lh_otel_json(f."gen_ai.response.finish_reasons"), '$[*]')
         WHEN json_type(f."gen_ai.response.finish_reasons") = 'VARCHAR'
         THEN [json_extract_string(f."gen_ai.response.finish_reasons", '$')] END,
    CASE WHEN lh_otel_indexed_count(a, 'gen_ai.completion.') IS NOT NULL
         THEN list_filter(list_transform(range(lh_otel_indexed_count(a, 'gen_ai.completion.') + 1),
                                         lambda lh_i: lh_otel_text(a, 'gen_ai.completion.' || lh_i || '.finish_reason')),
                          lambda lh_reason: lh_reason IS NOT NULL) END);
