/* Replace the catalog's prices with data/prices.csv's rows ($rows: the file's rows as a list of structs, checked by lakehouse/catalog/prices.py). */
INSERT INTO prices
SELECT p.model, p.input_usd_per_mtok, p.output_usd_per_mtok, p.valid_from, p.model || '@' || strftime(p.valid_from, '%Y-%m-%d')
FROM (SELECT unnest($rows, max_depth := 2)) AS p
