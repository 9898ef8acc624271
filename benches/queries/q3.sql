-- Abandon rate per queue and hour (of the metrics' emit dates).
SELECT queue_id, date_trunc('hour', emit_date) AS hour,
    CAST(count(*) FILTER (WHERE name = 'tAbandon') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'nOffered'), 0) AS abandon_rate
FROM metrics WHERE name IN ('tAbandon', 'nOffered') GROUP BY 1, 2
