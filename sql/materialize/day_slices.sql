/* How many fresh rows each day and transform has, and the line range they span (to read a large day in slices). */
SELECT day, transform_order, count(*) AS rows, min(line_no) AS first_line, max(line_no) AS last_line
FROM fresh
GROUP BY day, transform_order
ORDER BY day, transform_order
