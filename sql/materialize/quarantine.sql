/* Collect one transform's quarantined lines with their reason, line number and byte offset. */
INSERT INTO new_quarantine
SELECT {{stream}} AS stream, {{path}} AS path, line_no, byte_offset, {{kind}} AS kind, problem AS reason, raw
FROM {{staged}}
WHERE problem IS NOT NULL
