/* When the lake was last maintained, by any host: (epoch seconds or NULL, whether within the parameter's seconds of now). */
SELECT epoch(max(maintained_at)), coalesce(max(maintained_at) >= now() - to_seconds(?::DOUBLE), false)
FROM lake.lake_maintenance
