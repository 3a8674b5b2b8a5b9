/* Record the staged rows' keys under a push still in flight ($1: the table's name, $2: the push's id). */
INSERT INTO lake_record.published
SELECT $1, {{record_key}}, $2 FROM {{pending}} AS mine
