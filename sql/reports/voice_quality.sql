-- report: voice_quality
-- measures: voice media quality by queue and edge: sessions measured, minimum and average of
--   the per-session minimum MOS and R-factor, share of sessions under MOS 3.5, packets lost.
-- grain: queue_id × edge_id, over the whole interval.
-- parameters: $interval_start, $interval_end, $min_date, $max_date, $queues.
-- definition: from each voice session's mediaEndpointStats (minMos, minRFactor,
--   discardedPackets); the session's queue is that of its first segment with one (for the
--   customer's session: the first queue the conversation entered). Sessions count by the
--   eventTime of their stats. Averages are rounded to 6 decimals: sums of doubles differ in
--   the last digits with the order parallel scans add them in, and nightly results should not.
WITH stats AS (
    SELECT conversation_id, session['edge_id'] AS edge_id, session['segments'][1]['queue_id'] AS queue_id,
        unnest(session['media_endpoint_stats']) AS stat
    FROM (
        -- The cast to the four session fields read is what lets the Parquet reader skip the
        -- other ~150 leaves of `sessions` (1.4 s against 0.3 s at 200k conversations).
        SELECT conversation_id, unnest(arrow_cast(sessions, 'List(Struct("media_type": Dictionary(Int32, Utf8), "edge_id": Utf8, "segments": List(Struct("queue_id": Utf8), field: ''element''), "media_endpoint_stats": List(Struct("discarded_packets": Int64, "event_time": Timestamp(µs, "UTC"), "min_mos": Float64, "min_r_factor": Float64), field: ''element'')), field: ''element'')')) AS session
        FROM participants
        WHERE conversation_date BETWEEN $min_date AND $max_date
    )
    WHERE session['media_type'] = 'voice'
)
SELECT
    queue_id, edge_id,
    count(*) AS sessions_measured,
    min(stat['min_mos']) AS min_mos,
    round(avg(stat['min_mos']), 6) AS avg_min_mos,
    min(stat['min_r_factor']) AS min_r_factor,
    round(avg(stat['min_r_factor']), 6) AS avg_min_r_factor,
    100.0 * count(*) FILTER (WHERE stat['min_mos'] < 3.5) / count(*) AS pct_under_3_5,
    sum(stat['discarded_packets']) AS discarded_packets
FROM stats
WHERE stat['event_time'] >= $interval_start AND stat['event_time'] < $interval_end
  AND ($queues = '' OR array_has(string_to_array($queues, ','), queue_id))
GROUP BY queue_id, edge_id
ORDER BY min_mos, queue_id, edge_id
