/* One day's staged evidence ($1: the day), ordered by id so that the part's name and bytes are the same when a push is retried. */
SELECT * FROM {{pending}} WHERE day = $1 ORDER BY evidence_id
