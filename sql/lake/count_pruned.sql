/* What `prune --lake` would delete: (evidence, replay_runs) before the variable prune_before (a DATE), as analysts count them. */
-- Counted through the views: a key two hosts appended at once counts once (both rows go), as a query
-- of the lake counted it before the prune.
SELECT (SELECT count(*) FROM lake.evidence WHERE day < getvariable('prune_before')) AS evidence,
       (SELECT count(*) FROM lake.replay_runs WHERE day < getvariable('prune_before')) AS replay_runs
