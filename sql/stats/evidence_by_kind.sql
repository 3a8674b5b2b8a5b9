/* Evidence records per kind, for `lakehouse stats`. */
SELECT kind, count(*) AS records FROM evidence GROUP BY kind ORDER BY kind
