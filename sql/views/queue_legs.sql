-- queue_legs: one row per queue visit (an ACD participant's session) with how it ended.
-- Grain: ACD session. answered: neither abandoned nor flowed out of the queue.
CREATE VIEW queue_legs AS
SELECT
    s.conversation_id, s.conversation_date, s.conversation_start, s.participant_id, s.session_id,
    s.queue_id, s.media_type, s.direction,
    s.session_start AS entered_queue,
    s.session_end AS left_queue,
    coalesce(m.n_offered, 0) AS offered,
    m.t_acd,
    m.t_abandon IS NOT NULL AS abandoned,
    m.t_short_abandon IS NOT NULL AS short_abandoned,
    m.t_flow_out IS NOT NULL AS flowed_out,
    m.t_abandon IS NULL AND m.t_flow_out IS NULL AND s.session_end IS NOT NULL AS answered,
    m.t_abandon,
    m.t_flow_out
FROM sessions s
LEFT JOIN metrics_pivot m
    ON m.conversation_id = s.conversation_id AND m.session_id = s.session_id
WHERE s.purpose = 'acd'
