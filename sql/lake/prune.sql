/* Remove from the lake the evidence days and replay runs before the day being pruned, and record the lake's retention so no host publishes them again: (evidence, replay_runs) removed. */
-- Inside one lake transaction that first updated lake_lock (prunes and maintenance take turns with it). The
-- caller sets the variables prune_before (DATE) and prune_host (who pruned). A host that appended rows of
-- those days meanwhile conflicts with the deletes and retries (it then sees the retention); rows it
-- committed first are hidden by the views' retention filter and deleted by the next maintenance.
-- The counts placeholder is sql/lake/count_pruned.sql: what is about to go.
CREATE OR REPLACE TEMPORARY TABLE pruned AS {{counts}};
DELETE FROM lake.evidence_appended WHERE day < getvariable('prune_before');
DELETE FROM lake.replay_runs_appended WHERE day < getvariable('prune_before');
INSERT INTO lake.lake_retention VALUES (getvariable('prune_before'), now(), getvariable('prune_host'));
FROM pruned
