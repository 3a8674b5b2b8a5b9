/* Append a table's staged rows to the lake (inside the push's lake transaction). */
INSERT INTO lake.{{appended}} SELECT * FROM {{pending}}
