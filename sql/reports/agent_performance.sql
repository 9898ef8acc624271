-- report: agent_performance
-- measures: per agent and interval: answered, handled, talk, hold and after-call work (totals
--   and averages), average handle time, transfers (blind and consult), not-responding alerts.
-- grain: user_id × interval_start (buckets of $granularity in time zone $tz); agent sessions
--   without a user keep an empty (NULL) user_id.
-- parameters: $interval_start, $interval_end, $tz, $granularity, $min_date, $max_date,
--   $users, $queues, $media_types (comma-separated filters, '' for all).
-- definition (DESIGN.md "Metrics"): a metric counts in the interval of its emitDate;
--   answered = count(tAnswered); handled = count(tHandle); AHT = sum(tHandle) / count(tHandle)
--   (tHandle = tTalkComplete + tHeldComplete + tAcw); average talk is per talk segment
--   (sum(tTalk) / count(tTalk)); an agent who transfers to another has one answered and one
--   handled, the other none answered and one handled.
WITH m AS (
    SELECT user_id, tz_bucket(emit_date, $granularity, $tz) AS interval_start, name, value
    FROM metrics
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND emit_date >= $interval_start AND emit_date < $interval_end
      AND purpose = 'agent'
      AND ($users = '' OR array_has(string_to_array($users, ','), user_id))
      AND ($queues = '' OR array_has(string_to_array($queues, ','), queue_id))
      AND ($media_types = '' OR array_has(string_to_array($media_types, ','), CAST(media_type AS VARCHAR)))
)
SELECT
    user_id, interval_start,
    count(*) FILTER (WHERE name = 'tAnswered') AS answered,
    count(*) FILTER (WHERE name = 'tHandle') AS handled,
    coalesce(sum(value) FILTER (WHERE name = 'tTalk'), 0) AS talk_ms,
    CAST(sum(value) FILTER (WHERE name = 'tTalk') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tTalk'), 0) AS avg_talk_ms,
    coalesce(sum(value) FILTER (WHERE name = 'tHeld'), 0) AS hold_ms,
    CAST(sum(value) FILTER (WHERE name = 'tHeld') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tHeld'), 0) AS avg_hold_ms,
    coalesce(sum(value) FILTER (WHERE name = 'tAcw'), 0) AS acw_ms,
    CAST(sum(value) FILTER (WHERE name = 'tAcw') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tAcw'), 0) AS avg_acw_ms,
    coalesce(sum(value) FILTER (WHERE name = 'tHandle'), 0) AS handle_ms,
    CAST(sum(value) FILTER (WHERE name = 'tHandle') AS DOUBLE) / nullif(count(*) FILTER (WHERE name = 'tHandle'), 0) AS aht_ms,
    coalesce(sum(value) FILTER (WHERE name = 'nBlindTransferred'), 0) AS blind_transfers,
    coalesce(sum(value) FILTER (WHERE name = 'nConsultTransferred'), 0) AS consult_transfers,
    count(*) FILTER (WHERE name = 'tNotResponding') AS not_responding
FROM m
GROUP BY user_id, interval_start
ORDER BY user_id, interval_start
