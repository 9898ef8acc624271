-- metrics_pivot: one row per session, session metrics pivoted one column per common metric
-- name (sums, so a metric emitted twice on a session, like tTalk per talk segment, adds up).
-- Grain: session. Keys: conversation_id, participant_id, session_id.
CREATE VIEW metrics_pivot AS
SELECT
    conversation_id, conversation_date, conversation_start, session_id,
    -- Constant within a session (they describe it), so min() is the session's value; taken
    -- as aggregates rather than grouped on, because hashing nine group columns made the
    -- pivot of 2.6 million metrics 3.5 times slower (1.39 s against 0.40 s). The date and
    -- start stay group columns so that date filters on the view still prune partitions.
    min(participant_id) AS participant_id,
    min(purpose) AS purpose,
    min(user_id) AS user_id,
    min(media_type) AS media_type,
    min(queue_id) AS queue_id,
    min(emit_date) AS first_emit_date,
    max(emit_date) AS last_emit_date,
    sum(CASE WHEN name = 'nConnected' THEN value END) AS n_connected,
    sum(CASE WHEN name = 'nOffered' THEN value END) AS n_offered,
    sum(CASE WHEN name = 'tAcd' THEN value END) AS t_acd,
    sum(CASE WHEN name = 'tAbandon' THEN value END) AS t_abandon,
    sum(CASE WHEN name = 'tShortAbandon' THEN value END) AS t_short_abandon,
    sum(CASE WHEN name = 'tFlowOut' THEN value END) AS t_flow_out,
    sum(CASE WHEN name = 'tAlert' THEN value END) AS t_alert,
    sum(CASE WHEN name = 'tNotResponding' THEN value END) AS t_not_responding,
    sum(CASE WHEN name = 'tAnswered' THEN value END) AS t_answered,
    count(CASE WHEN name = 'tAnswered' THEN value END) AS n_answered,
    sum(CASE WHEN name = 'tTalk' THEN value END) AS t_talk,
    count(CASE WHEN name = 'tTalk' THEN value END) AS n_talk_segments,
    sum(CASE WHEN name = 'tTalkComplete' THEN value END) AS t_talk_complete,
    sum(CASE WHEN name = 'tHeld' THEN value END) AS t_held,
    sum(CASE WHEN name = 'tHeldComplete' THEN value END) AS t_held_complete,
    sum(CASE WHEN name = 'tAcw' THEN value END) AS t_acw,
    sum(CASE WHEN name = 'tHandle' THEN value END) AS t_handle,
    count(CASE WHEN name = 'tHandle' THEN value END) AS n_handled,
    sum(CASE WHEN name = 'tDialing' THEN value END) AS t_dialing,
    sum(CASE WHEN name = 'tContacting' THEN value END) AS t_contacting,
    sum(CASE WHEN name = 'nTransferred' THEN value END) AS n_transferred,
    sum(CASE WHEN name = 'nBlindTransferred' THEN value END) AS n_blind_transferred,
    sum(CASE WHEN name = 'nConsultTransferred' THEN value END) AS n_consult_transferred,
    sum(CASE WHEN name = 'nConsult' THEN value END) AS n_consult,
    sum(CASE WHEN name = 'nOutbound' THEN value END) AS n_outbound,
    sum(CASE WHEN name = 'tIvr' THEN value END) AS t_ivr,
    sum(CASE WHEN name = 'nFlow' THEN value END) AS n_flow,
    sum(CASE WHEN name = 'tFlow' THEN value END) AS t_flow,
    sum(CASE WHEN name = 'tFlowExit' THEN value END) AS t_flow_exit,
    sum(CASE WHEN name = 'tFlowDisconnect' THEN value END) AS t_flow_disconnect,
    sum(CASE WHEN name = 'nFlowOutcome' THEN value END) AS n_flow_outcome,
    sum(CASE WHEN name = 'nFlowOutcomeFailed' THEN value END) AS n_flow_outcome_failed,
    sum(CASE WHEN name = 'nError' THEN value END) AS n_error
FROM metrics
GROUP BY conversation_id, conversation_date, conversation_start, session_id
