/* When the lake was last maintained, by any host (NULL: never). */
SELECT max(maintained_at) FROM lake.lake_maintenance
