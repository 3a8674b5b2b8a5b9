/* Remove from the lake the evidence days and replay runs before the day being pruned, and record the lake's retention so no host publishes them again: (evidence, replay_runs) removed. */
-- Inside one lake transaction that first updated lake_lock (publishers take turns with it). The caller
-- sets the variables prune_before (DATE) and prune_host (who pruned).
-- The counts placeholder is sql/lake/count_pruned.sql: what is about to go.
CREATE OR REPLACE TEMPORARY TABLE pruned AS {{counts}};
DELETE FROM lake.evidence WHERE day < getvariable('prune_before');
DELETE FROM lake.replay_runs WHERE day < getvariable('prune_before');
INSERT INTO lake.lake_retention VALUES (getvariable('prune_before'), now(), getvariable('prune_host'));
FROM pruned
