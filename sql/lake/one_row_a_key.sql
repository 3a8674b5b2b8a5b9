/* The view analysts read a lake table through: one row a key of what hosts appended, none of the days the lake's retention pruned. */
-- Created with the lake as the default database (the names bind in the lake whatever an analyst attaches
-- it as). Hosts append without a lock, so two that publish one key at the same instant both commit it;
-- the first in {{prefer}} is the row. {{partition}} starts with the day column where there is one, so a
-- query's day filter still reaches the files. `lakehouse lake maintain` deletes the rows hidden here.
CREATE VIEW IF NOT EXISTS {{table}} AS
SELECT * EXCLUDE (lake_row) FROM (
    SELECT *, row_number() OVER (PARTITION BY {{partition}} ORDER BY {{prefer}}) AS lake_row
    FROM {{appended}} AS appended
    WHERE {{kept}} >= (SELECT coalesce(max(before), DATE '0001-01-01') FROM lake_retention)
)
WHERE lake_row = 1
