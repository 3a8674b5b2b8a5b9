/* Demo summary: evidence records per kind, with the days they span and how many passed. */
SELECT
    kind,
    count(*) AS records,
    count(DISTINCT day) AS days,
    min(day) AS first_day,
    max(day) AS last_day,
    round(100.0 * avg(passed::INTEGER), 1) AS pass_pct
FROM evidence
GROUP BY kind
ORDER BY records DESC, kind
