/* The 10 slowest traces and every trace with a failing span (OpenTelemetry), each with its spans in order: name, duration, status. */
WITH traces AS (
    SELECT
        trace_id,
        -- the root: the span without a parent, else the earliest (ties broken by span id)
        arg_min(name, {'child': parent_span_id IS NOT NULL, 'at': start_time, 'id': span_id}) AS root_span,
        arg_min(service, {'child': parent_span_id IS NOT NULL, 'at': start_time, 'id': span_id}) AS service,
        min(start_time) AS started,
        round((epoch_us(max(coalesce(end_time, start_time))) - epoch_us(min(start_time))) / 1000, 1) AS duration_ms,
        count(*) AS span_count,
        count(*) FILTER (status_code = 'ERROR') AS failing_spans,
        list(name || ' (' || coalesce(CAST(round(duration_ms, 1) AS VARCHAR), '?') || ' ms)'
             || CASE WHEN status_code = 'ERROR' THEN ' ERROR: ' || coalesce(status_message, '') ELSE '' END
             ORDER BY start_time, span_id) AS spans
    FROM spans
    GROUP BY trace_id
),
ranked AS (
    SELECT *, row_number() OVER (ORDER BY duration_ms DESC, trace_id) AS slowness FROM traces
)
SELECT
    trace_id,
    concat_ws(', ', CASE WHEN slowness <= 10 THEN 'slowest' END, CASE WHEN failing_spans > 0 THEN 'failing' END) AS why,
    root_span,
    service,
    started,
    duration_ms,
    span_count,
    failing_spans,
    spans
FROM ranked
WHERE slowness <= 10 OR failing_spans > 0
ORDER BY failing_spans > 0 DESC, duration_ms DESC, trace_id
