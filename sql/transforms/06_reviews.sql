/* reviews → review: a review of a change or artifact; passed when the verdict is "approve". */
-- stream: reviews
-- kind: review
-- key: review_id
-- fields: review_id string, target text, verdict string, comments text, reviewer string
-- moved: run_id string, task_id string, model string
SELECT
    line_no,
    run_id,
    task_id,
    model,
    lh_join(': ', [target, comments]) AS text,
    verdict = 'approve' AS passed,
    lh_tags([lh_tag('verdict', verdict)]) AS tags
FROM source
