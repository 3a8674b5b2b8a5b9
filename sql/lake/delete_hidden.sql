/* Delete the rows staged by hidden_rows.sql from one appended table ({{appended}}). */
DELETE FROM lake.{{appended}} WHERE rowid IN (SELECT rowid FROM hidden_rows)
