/* What the lake holds and what this root holds that the lake lacks, per table: (in_lake, local, not_in_lake). */
-- {{table}} is the view analysts read (one row a key), {{appended}} what hosts appended to.
-- {{kept}}: the table's day column when the lake prunes it (rows older than its retention are not owed), else a constant.
SELECT (SELECT count(*) FROM lake.{{table}}) AS in_lake,
    (SELECT count(*) FROM {{table}}) AS local,
    (SELECT count(*) FROM {{table}} AS mine
     WHERE {{kept}} >= (SELECT coalesce(max(before), DATE '0001-01-01') FROM lake.lake_retention)
       AND NOT EXISTS (SELECT 1 FROM lake.{{appended}} AS held WHERE held.{{key}} = mine.{{key}})) AS not_in_lake
