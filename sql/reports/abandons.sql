-- report: abandons
-- measures: time-to-abandon distribution per queue, short versus long abandons.
-- grain: queue_id × wait band × short (true/false), over the whole interval; abandons whose
--   session names no queue keep an empty (NULL) queue_id, as Genesys keeps a group without the key.
-- parameters: $interval_start, $interval_end, $min_date, $max_date, $queues, $media_types.
-- definition (DESIGN.md "Metrics"): an abandon is a tAbandon metric on the queue session,
--   its value the time in queue; it is short when the session also has tShortAbandon.
WITH a AS (
    SELECT conversation_id, session_id, queue_id, value
    FROM metrics
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND emit_date >= $interval_start AND emit_date < $interval_end
      AND name = 'tAbandon'
      AND ($queues = '' OR array_has(string_to_array($queues, ','), queue_id))
      AND ($media_types = '' OR array_has(string_to_array($media_types, ','), CAST(media_type AS VARCHAR)))
),
s AS (
    SELECT DISTINCT conversation_id, session_id
    FROM metrics
    WHERE conversation_date BETWEEN $min_date AND $max_date AND name = 'tShortAbandon'
)
SELECT
    a.queue_id,
    CASE
        WHEN a.value < 5000 THEN '0-5s'
        WHEN a.value < 10000 THEN '5-10s'
        WHEN a.value < 30000 THEN '10-30s'
        WHEN a.value < 60000 THEN '30-60s'
        WHEN a.value < 120000 THEN '1-2m'
        WHEN a.value < 300000 THEN '2-5m'
        ELSE '5m+'
    END AS wait_band,
    min(a.value) AS band_min_ms,
    s.session_id IS NOT NULL AS short,
    count(*) AS abandons,
    avg(a.value) AS avg_wait_ms
FROM a
LEFT JOIN s ON s.conversation_id = a.conversation_id AND s.session_id = a.session_id
GROUP BY a.queue_id, 2, s.session_id IS NOT NULL
ORDER BY a.queue_id, band_min_ms
