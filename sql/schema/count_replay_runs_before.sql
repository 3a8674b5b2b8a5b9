/* How many mirrored replay runs are before $before (what `lakehouse prune --before` would remove). */
SELECT count(*) FROM replay_runs WHERE day < $before
