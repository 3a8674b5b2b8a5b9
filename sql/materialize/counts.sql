/* Per transform: rows it mapped and rows it kept after de-duplication. */
SELECT m.transform_order, m.mapped, coalesce(f.kept, 0) AS kept
FROM (SELECT transform_order, count(*) AS mapped FROM new_evidence GROUP BY ALL) AS m
LEFT JOIN (SELECT transform_order, count(*) AS kept FROM fresh GROUP BY ALL) AS f USING (transform_order)
