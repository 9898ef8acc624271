-- conversation_summary: one row per conversation with what people ask first: media,
-- direction, first queue, agents, ANI/DNIS, duration, whether it was answered, abandoned or
-- transferred, and its wrap-up code.
-- Grain: conversation.
CREATE VIEW conversation_summary AS
SELECT
    c.conversation_id, c.conversation_date, c.conversation_start, c.conversation_end,
    c.originating_direction AS direction,
    s.media_type,
    s.ani, s.dnis,
    s.first_queue_id,
    s.queues,
    s.agents,
    (CAST(c.conversation_end AS BIGINT) - CAST(c.conversation_start AS BIGINT)) / 1000 AS duration_ms,
    c.conversation_end IS NULL AS in_progress,
    coalesce(m.answered, false) AS answered,
    coalesce(m.abandoned, false) AS abandoned,
    coalesce(m.transferred, false) AS transferred,
    coalesce(c.self_served, false) AS self_served,
    w.wrap_up_code
FROM conversations c
LEFT JOIN (
    SELECT
        conversation_id,
        first_value(CAST(media_type AS VARCHAR) ORDER BY session_start) AS media_type,
        max(CASE WHEN purpose = 'customer' OR purpose = 'external' THEN ani END) AS ani,
        max(CASE WHEN purpose = 'customer' OR purpose = 'external' THEN dnis END) AS dnis,
        first_value(CASE WHEN purpose = 'acd' THEN queue_id END ORDER BY CASE WHEN purpose = 'acd' THEN 0 ELSE 1 END, session_start) AS first_queue_id,
        array_agg(DISTINCT queue_id) FILTER (WHERE purpose = 'acd') AS queues,
        array_agg(DISTINCT user_id) FILTER (WHERE purpose = 'agent') AS agents
    FROM sessions
    GROUP BY conversation_id
) s ON s.conversation_id = c.conversation_id
LEFT JOIN (
    SELECT
        conversation_id,
        bool_or(name = 'tAnswered') AS answered,
        bool_or(name = 'tAbandon') AS abandoned,
        bool_or(name = 'nTransferred') AS transferred
    FROM metrics
    GROUP BY conversation_id
) m ON m.conversation_id = c.conversation_id
LEFT JOIN (
    SELECT conversation_id, max(wrap_up_code) AS wrap_up_code
    FROM segments WHERE wrap_up_code IS NOT NULL
    GROUP BY conversation_id
) w ON w.conversation_id = c.conversation_id
