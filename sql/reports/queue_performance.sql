-- report: queue_performance
-- measures: per queue and interval: offered, answered, abandoned, short abandons, flow-outs,
--   average speed of answer, average and longest wait, service level %, abandon %, answer %.
-- grain: queue_id × interval_start (buckets of $granularity in time zone $tz); metrics whose
--   session names no queue stay in a row with an empty (NULL) queue_id, as Genesys keeps them in
--   a group without the key (dropping them lost 1.7% of offers on a held-out export).
-- parameters: $interval_start, $interval_end (the ISO-8601 interval), $tz, $granularity,
--   $min_date, $max_date (partition bounds derived from the interval), $queues, $media_types
--   (comma-separated filters, '' for all), $sl_target_ms (global service level target),
--   $sl_queue_targets_ms (per-queue targets, 'queue=ms,...', over the global one),
--   $sl_include_flow_outs, $sl_exclude_short_abandons.
-- definition (DESIGN.md "Metrics"): a metric counts in the interval of its emitDate.
--   offered = count(nOffered); answered = count(tAnswered) on agent sessions of the queue;
--   abandoned = count(tAbandon); short abandons = count(tShortAbandon); flow-outs = count(tFlowOut);
--   ASA = sum(tAnswered) / count(tAnswered); wait = tAcd;
--   service level % = (answered - answered over target) / (answered + abandoned
--   [+ flow-outs if $sl_include_flow_outs] [- short abandons if $sl_exclude_short_abandons]) x 100;
--   abandon % = abandoned / offered x 100; answer % = answered / offered x 100.
WITH m AS (
    SELECT queue_id, tz_bucket(emit_date, $granularity, $tz) AS interval_start, purpose, name, value
    FROM metrics
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND emit_date >= $interval_start AND emit_date < $interval_end
      AND name IN ('nOffered', 'tAcd', 'tAbandon', 'tShortAbandon', 'tFlowOut', 'tAnswered')
      AND ($queues = '' OR array_has(string_to_array($queues, ','), queue_id))
      AND ($media_types = '' OR array_has(string_to_array($media_types, ','), CAST(media_type AS VARCHAR)))
),
k AS (
    SELECT
        queue_id, interval_start,
        count(*) FILTER (WHERE name = 'nOffered') AS offered,
        count(*) FILTER (WHERE name = 'tAnswered' AND purpose = 'agent') AS answered,
        count(*) FILTER (WHERE name = 'tAnswered' AND purpose = 'agent'
            AND value > coalesce(kv_lookup($sl_queue_targets_ms, queue_id), $sl_target_ms)) AS answered_over_target,
        count(*) FILTER (WHERE name = 'tAbandon') AS abandoned,
        count(*) FILTER (WHERE name = 'tShortAbandon') AS short_abandoned,
        count(*) FILTER (WHERE name = 'tFlowOut') AS flow_outs,
        sum(value) FILTER (WHERE name = 'tAnswered' AND purpose = 'agent') AS answered_ms,
        avg(value) FILTER (WHERE name = 'tAcd') AS avg_wait_ms,
        max(value) FILTER (WHERE name = 'tAcd') AS max_wait_ms
    FROM m
    GROUP BY queue_id, interval_start
)
SELECT
    queue_id, interval_start, offered, answered, abandoned, short_abandoned, flow_outs,
    CAST(answered_ms AS DOUBLE) / nullif(answered, 0) AS asa_ms,
    avg_wait_ms, max_wait_ms, answered_over_target,
    100.0 * (answered - answered_over_target) / nullif(
        answered + abandoned
        + CASE WHEN $sl_include_flow_outs THEN flow_outs ELSE 0 END
        - CASE WHEN $sl_exclude_short_abandons THEN short_abandoned ELSE 0 END, 0) AS service_level_pct,
    100.0 * abandoned / nullif(offered, 0) AS abandon_pct,
    100.0 * answered / nullif(offered, 0) AS answer_pct
FROM k
ORDER BY queue_id, interval_start
