/* Quarantine the staged lines whose mapped values have no reading as their evidence column's type (mapping_problems: line_no, problem). */
INSERT INTO new_quarantine
SELECT {{stream}} AS stream, {{path}} AS path, s.line_no, s.byte_offset, {{kind}} AS kind, p.problem AS reason, s.raw
FROM {{staged}} AS s
JOIN (SELECT line_no, min(problem) AS problem FROM mapping_problems GROUP BY line_no) AS p USING (line_no)
ORDER BY s.line_no
