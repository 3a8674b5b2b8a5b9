/* The most frequent validation reasons of runs that did not pass. */
SELECT reason, count(*) AS runs, max(day) AS last_seen
FROM (SELECT unnest(validation_result.reasons) AS reason, day FROM replay_runs WHERE NOT validation_result.passed)
GROUP BY reason
ORDER BY runs DESC, reason
LIMIT 20
