/* What `prune --lake` would delete: (evidence, replay_runs) before the variable prune_before (a DATE). */
SELECT (SELECT count(*) FROM lake.evidence WHERE day < getvariable('prune_before')) AS evidence,
       (SELECT count(*) FROM lake.replay_runs WHERE day < getvariable('prune_before')) AS replay_runs
