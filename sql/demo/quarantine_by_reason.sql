/* Demo summary: quarantined input lines per stream and reason, with the first line number. */
SELECT stream, reason, count(*) AS lines, min(line) AS first_line
FROM quarantine
GROUP BY stream, reason
ORDER BY stream, reason
