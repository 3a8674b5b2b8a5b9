/* Drop the fresh rows for days before the root's retention ($before): counted as `pruned` in the receipt. */
DELETE FROM fresh WHERE day < $before
