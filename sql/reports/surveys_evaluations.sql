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
-- One pass over both kinds of rows, grouped once (null queues or agents form groups of their
-- own), instead of six correlated subqueries per (queue, agent).
scored AS (
    SELECT queue_id, user_id, 1 AS is_survey, score AS survey_score, CAST(NULL AS BIGINT) AS evaluation_score FROM s
    UNION ALL
    SELECT queue_id, user_id, 0 AS is_survey, CAST(NULL AS INT) AS survey_score, score AS evaluation_score FROM e
)
SELECT
    queue_id, user_id,
    sum(is_survey) AS surveys,
    avg(survey_score) AS avg_promoter_score,
    100.0 * (count(*) FILTER (WHERE survey_score >= 9) - count(*) FILTER (WHERE survey_score <= 6))
        / nullif(sum(is_survey), 0) AS nps,
    sum(1 - is_survey) AS evaluations,
    avg(evaluation_score) AS avg_evaluation_score,
    min(evaluation_score) AS min_evaluation_score
FROM scored
WHERE ($queues = '' OR array_has(string_to_array($queues, ','), queue_id))
  AND ($users = '' OR array_has(string_to_array($users, ','), user_id))
GROUP BY queue_id, user_id
ORDER BY queue_id, user_id
