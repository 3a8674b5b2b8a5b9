/* Per transform: fresh rows for days before the root's retention ($before), which `lakehouse prune` removed and a late or re-read line must not bring back. */
SELECT transform_order, count(*) FROM fresh WHERE day < $before GROUP BY ALL
