/* The lake's retention: rows of a day before it were pruned and are not published again (the earliest day when nothing was pruned). */
SELECT coalesce(max(before), DATE '0001-01-01') FROM lake.lake_retention
