-- report: surveys_evaluations
-- measures: post-contact surveys (responses, average promoter score, NPS) and quality
--   evaluations (count, average and minimum total score) by queue and agent.
-- grain: queue_id × user_id, over the whole interval.
-- parameters: $interval_start, $interval_end, $min_date, $max_date, $queues, $users.
-- definition: from the conversations' surveys and evaluations (eventTime within the
--   interval); NPS = % promoters (score 9-10) - % detractors (0-6); deleted evaluations are left out.
WITH s AS (
    SELECT survey['queue_id'] AS queue_id, survey['user_id'] AS user_id, survey['survey_promoter_score'] AS score
    FROM (SELECT unnest(surveys) AS survey FROM conversations WHERE conversation_date BETWEEN $min_date AND $max_date)
    WHERE survey['event_time'] >= $interval_start AND survey['event_time'] < $interval_end
),
e AS (
    SELECT evaluation['queue_id'] AS queue_id, evaluation['user_id'] AS user_id, evaluation['o_total_score'] AS score
    FROM (SELECT unnest(evaluations) AS evaluation FROM conversations WHERE conversation_date BETWEEN $min_date AND $max_date)
    WHERE evaluation['event_time'] >= $interval_start AND evaluation['event_time'] < $interval_end
      AND NOT coalesce(evaluation['deleted'], false)
),
keys AS (SELECT queue_id, user_id FROM s UNION SELECT queue_id, user_id FROM e)
SELECT
    k.queue_id, k.user_id,
    (SELECT count(*) FROM s WHERE s.queue_id = k.queue_id AND s.user_id = k.user_id) AS surveys,
    (SELECT avg(score) FROM s WHERE s.queue_id = k.queue_id AND s.user_id = k.user_id) AS avg_promoter_score,
    (SELECT 100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6)) / nullif(count(*), 0)
        FROM s WHERE s.queue_id = k.queue_id AND s.user_id = k.user_id) AS nps,
    (SELECT count(*) FROM e WHERE e.queue_id = k.queue_id AND e.user_id = k.user_id) AS evaluations,
    (SELECT avg(score) FROM e WHERE e.queue_id = k.queue_id AND e.user_id = k.user_id) AS avg_evaluation_score,
    (SELECT min(score) FROM e WHERE e.queue_id = k.queue_id AND e.user_id = k.user_id) AS min_evaluation_score
FROM keys k
WHERE ($queues = '' OR array_has(string_to_array($queues, ','), k.queue_id))
  AND ($users = '' OR array_has(string_to_array($users, ','), k.user_id))
ORDER BY k.queue_id, k.user_id
