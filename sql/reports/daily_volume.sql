-- report: daily_volume
-- measures: conversations started per local day by media type and direction, with how many
--   were answered, abandoned, self-served in the IVR, and still in progress.
-- grain: local day (in $tz) × media_type × direction.
-- parameters: $interval_start, $interval_end, $tz, $min_date, $max_date, $media_types.
-- definition: a conversation counts on the local day of its conversationStart; media type is
--   that of its first session; answered = any tAnswered, abandoned = any tAbandon.
SELECT
    tz_bucket(conversation_start, 'P1D', $tz) AS day_start,
    media_type, direction,
    count(*) AS conversations,
    count(*) FILTER (WHERE answered) AS answered,
    count(*) FILTER (WHERE abandoned) AS abandoned,
    count(*) FILTER (WHERE self_served) AS self_served,
    count(*) FILTER (WHERE in_progress) AS in_progress
FROM conversation_summary
WHERE conversation_date BETWEEN $min_date AND $max_date
  AND conversation_start >= $interval_start AND conversation_start < $interval_end
  AND ($media_types = '' OR array_has(string_to_array($media_types, ','), media_type))
GROUP BY tz_bucket(conversation_start, 'P1D', $tz), media_type, direction
ORDER BY day_start, media_type, direction
