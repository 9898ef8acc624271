-- Average tHandle per queue.
SELECT queue_id, avg(value) AS avg_handle_ms FROM metrics WHERE name = 'tHandle' GROUP BY 1
