/* scenario_results → scenario: one scenario of a test suite run; passed when ok. */
-- stream: scenario_results
-- kind: scenario
-- key: suite, scenario_id
-- fields: suite string, scenario_id string, error text
-- moved: run_id string, task_id string, model string, scenario_class string, ok boolean, latency_ms number
SELECT
    line_no,
    run_id,
    task_id,
    model,
    lh_join(' — ', [suite || '/' || scenario_id, scenario_class, CASE WHEN ok THEN 'ok' WHEN NOT ok THEN 'failed' END, error]) AS text,
    ok AS passed,
    lh_ms(latency_ms) AS duration_ms,
    lh_tags([lh_tag('scenario_class', scenario_class)]) AS tags
FROM source
