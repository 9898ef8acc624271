-- report: transfers
-- measures: transfer paths: from which queue conversations moved on to which queue, and how
--   agents of each queue transferred (blind, consult) and consulted.
-- grain: from_queue_id × to_queue_id (to_queue_id NULL: transfers that did not go to a queue).
-- parameters: $interval_start, $interval_end, $min_date, $max_date, $queues.
-- definition: queue-to-queue legs come from consecutive queue visits of one conversation
--   (ordered by entry); agent transfers from nBlindTransferred, nConsultTransferred and nConsult
--   on agent sessions. Conversations count by conversationStart.
-- Queue visits and agent transfers are read from `sessions` and `metrics` directly (the
-- columns queue_legs and agent_legs would give), so that only three metrics' pages are read
-- instead of the whole metrics_pivot.
WITH acd AS (
    SELECT conversation_id, queue_id, session_start
    FROM sessions
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND conversation_start >= $interval_start AND conversation_start < $interval_end
      AND purpose = 'acd'
),
-- Conversations that visited more than one queue: only their visits have a next one. Most
-- conversations visit one, and lead() over a window per conversation costs DataFusion 55 time
-- in the number of windows (0.28 s for 170k visits at 200k conversations, 0.14 s this way).
revisits AS (
    SELECT conversation_id FROM acd GROUP BY conversation_id HAVING count(*) > 1
),
legs AS (
    SELECT conversation_id, queue_id, CAST(NULL AS VARCHAR) AS next_queue_id
    FROM acd
    WHERE conversation_id NOT IN (SELECT conversation_id FROM revisits)
    UNION ALL
    SELECT conversation_id, queue_id,
        lead(queue_id) OVER (PARTITION BY conversation_id ORDER BY session_start) AS next_queue_id
    FROM acd
    WHERE conversation_id IN (SELECT conversation_id FROM revisits)
),
agent_queues AS (
    SELECT DISTINCT queue_id
    FROM sessions
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND conversation_start >= $interval_start AND conversation_start < $interval_end
      AND purpose = 'agent'
),
transferred AS (
    SELECT queue_id,
        sum(CASE WHEN name = 'nBlindTransferred' THEN value END) AS blind_transfers,
        sum(CASE WHEN name = 'nConsultTransferred' THEN value END) AS consult_transfers,
        sum(CASE WHEN name = 'nConsult' THEN value END) AS consults
    FROM metrics
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND conversation_start >= $interval_start AND conversation_start < $interval_end
      AND purpose = 'agent'
      AND name IN ('nBlindTransferred', 'nConsultTransferred', 'nConsult')
    GROUP BY queue_id
),
-- Queues whose agents took calls: their transfers, 0 when there were none.
agents AS (
    SELECT q.queue_id,
        coalesce(t.blind_transfers, 0) AS blind_transfers,
        coalesce(t.consult_transfers, 0) AS consult_transfers,
        coalesce(t.consults, 0) AS consults
    FROM agent_queues q
    LEFT JOIN transferred t ON t.queue_id = q.queue_id
)
SELECT
    l.queue_id AS from_queue_id,
    l.next_queue_id AS to_queue_id,
    count(*) AS legs,
    count(DISTINCT l.conversation_id) AS conversations,
    max(a.blind_transfers) AS agent_blind_transfers,
    max(a.consult_transfers) AS agent_consult_transfers,
    max(a.consults) AS agent_consults
FROM legs l
LEFT JOIN agents a ON a.queue_id = l.queue_id
WHERE ($queues = '' OR array_has(string_to_array($queues, ','), l.queue_id))
GROUP BY l.queue_id, l.next_queue_id
ORDER BY from_queue_id, legs DESC, to_queue_id
