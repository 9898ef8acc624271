-- report: transfers
-- measures: transfer paths: from which queue conversations moved on to which queue, and how
--   agents of each queue transferred (blind, consult) and consulted.
-- grain: from_queue_id × to_queue_id (to_queue_id NULL: transfers that did not go to a queue).
-- parameters: $interval_start, $interval_end, $min_date, $max_date, $queues.
-- definition: queue-to-queue legs come from consecutive queue visits of one conversation
--   (ordered by entry); agent transfers from nBlindTransferred, nConsultTransferred and nConsult
--   on agent sessions. Conversations count by conversationStart.
WITH legs AS (
    SELECT conversation_id, queue_id,
        lead(queue_id) OVER (PARTITION BY conversation_id ORDER BY entered_queue) AS next_queue_id
    FROM queue_legs
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND conversation_start >= $interval_start AND conversation_start < $interval_end
),
agents AS (
    SELECT queue_id,
        sum(blind_transferred) AS blind_transfers,
        sum(consult_transferred) AS consult_transfers,
        sum(consults) AS consults
    FROM agent_legs
    WHERE conversation_date BETWEEN $min_date AND $max_date
      AND conversation_start >= $interval_start AND conversation_start < $interval_end
    GROUP BY queue_id
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
