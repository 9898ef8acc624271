-- report: handle_time
-- measures: handle time by queue and media type: handled, average handle time, average talk
--   (per talk segment), average hold, average after-call work.
-- grain: queue_id × media_type × interval_start; agent metrics whose session names no queue keep
--   an empty (NULL) queue_id, as Genesys keeps a group without the key.
-- parameters: $interval_start, $interval_end, $tz, $granularity, $min_date, $max_date,
--   $queues, $media_types.
-- definition (DESIGN.md "Metrics"): AHT = sum(tHandle) / count(tHandle), by emitDate.
SELECT
    queue_id, media_type,
    tz_bucket(emit_date, $granularity, $tz) AS interval_start,
    count(*) FILTER (WHERE name = 'tHandle') AS handled,
    CAST(sum(value) FILTER (WHERE name = 'tHandle') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tHandle'), 0) AS aht_ms,
    CAST(sum(value) FILTER (WHERE name = 'tTalk') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tTalk'), 0) AS avg_talk_ms,
    CAST(sum(value) FILTER (WHERE name = 'tHeld') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tHeld'), 0) AS avg_hold_ms,
    CAST(sum(value) FILTER (WHERE name = 'tAcw') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tAcw'), 0) AS avg_acw_ms
FROM metrics
WHERE conversation_date BETWEEN $min_date AND $max_date
  AND emit_date >= $interval_start AND emit_date < $interval_end
  AND purpose = 'agent'
  AND name IN ('tHandle', 'tTalk', 'tHeld', 'tAcw')
  AND ($queues = '' OR array_has(string_to_array($queues, ','), queue_id))
  AND ($media_types = '' OR array_has(string_to_array($media_types, ','), CAST(media_type AS VARCHAR)))
GROUP BY queue_id, media_type, tz_bucket(emit_date, $granularity, $tz)
ORDER BY queue_id, media_type, interval_start
