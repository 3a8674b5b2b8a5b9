/* Every label that names runs, for a message about an unknown one. */
SELECT DISTINCT label FROM replay_runs WHERE label IS NOT NULL ORDER BY label
