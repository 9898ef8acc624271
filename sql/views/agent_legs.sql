-- agent_legs: one row per agent session, with its handling metrics and wrap-up code.
-- Grain: agent session. answered: the session carries tAnswered; handled: it carries tHandle.
CREATE VIEW agent_legs AS
SELECT
    s.conversation_id, s.conversation_date, s.conversation_start, s.participant_id, s.session_id,
    s.user_id, s.queue_id, s.media_type, s.direction,
    s.session_start, s.session_end,
    coalesce(m.n_answered, 0) AS answered,
    coalesce(m.n_handled, 0) AS handled,
    m.t_alert, m.t_answered, m.t_talk, m.t_talk_complete, m.t_held, m.t_held_complete,
    m.t_acw, m.t_handle, m.t_not_responding,
    coalesce(m.n_transferred, 0) AS transferred,
    coalesce(m.n_blind_transferred, 0) AS blind_transferred,
    coalesce(m.n_consult_transferred, 0) AS consult_transferred,
    coalesce(m.n_consult, 0) AS consults,
    w.wrap_up_code
FROM sessions s
LEFT JOIN metrics_pivot m
    ON m.conversation_id = s.conversation_id AND m.session_id = s.session_id
LEFT JOIN (
    SELECT conversation_id, session_id, max(wrap_up_code) AS wrap_up_code
    FROM segments WHERE wrap_up_code IS NOT NULL
    GROUP BY conversation_id, session_id
) w ON w.conversation_id = s.conversation_id AND w.session_id = s.session_id
WHERE s.purpose = 'agent'
