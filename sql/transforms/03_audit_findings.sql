/* audit_findings → audit_finding: one finding of an audit phase; passed when the verdict is "pass". */
-- stream: audit_findings
-- kind: audit_finding
-- key: audit_id, finding_id
-- fields: audit_id string, finding_id string, verdict string
-- moved: run_id string, task_id string, model string, phase string, severity string, finding text
SELECT
    line_no,
    run_id,
    task_id,
    model,
    finding AS text,
    verdict = 'pass' AS passed,
    lh_tags([lh_tag('phase', phase), lh_tag('severity', severity)]) AS tags
FROM source
