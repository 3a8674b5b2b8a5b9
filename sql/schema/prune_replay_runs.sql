/* Drop mirrored replay runs before the root's retention ($before): `lakehouse prune` removed them, and a log read again must not bring them back. */
DELETE FROM replay_runs WHERE day < $before
