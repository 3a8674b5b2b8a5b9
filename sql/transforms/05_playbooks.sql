/* playbooks → playbook: a titled list of steps; the latest version of each playbook feeds the RAG corpus. */
-- stream: playbooks
-- kind: playbook
-- key: playbook_id, version
-- fields: playbook_id string, version integer, title string, steps strings
-- moved: tags strings
SELECT
    line_no,
    lh_join(chr(10), [title, lh_numbered(steps)]) AS text,
    lh_tags(tags) AS tags
FROM source
