/* Evidence counts by kind and day. */
SELECT day, kind, count(*) AS records, count(*) FILTER (WHERE passed) AS passed, count(*) FILTER (WHERE NOT passed) AS failed
FROM evidence
GROUP BY day, kind
ORDER BY day, kind
