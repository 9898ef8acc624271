-- names: the name of every id a person reads (kind: user, queue, wrapup, flow, division,
-- skill, language, team), from the org's directory that `convlake pull` keeps (source
-- 'directory', departed users and deleted queues included, marked `deleted`), else from the
-- exports themselves (source 'export': an ACD participant's participantName is its queue's
-- name, a flow session's flowName its flow's). Never an agent participant's name: real
-- exports have none, and on other media it can be the queue's or a customer's.
-- Grain: (kind, id).
CREATE VIEW names AS
WITH export AS (
    SELECT 'queue' AS kind, s.queue_id AS id, max(p.participant_name) AS name
    FROM participants p
    JOIN sessions s
        ON s.conversation_id = p.conversation_id AND s.participant_id = p.participant_id
    WHERE p.purpose = 'acd' AND s.queue_id IS NOT NULL AND p.participant_name IS NOT NULL
    GROUP BY s.queue_id
    UNION ALL
    SELECT 'flow' AS kind, flow_id AS id, max(flow_name) AS name
    FROM sessions
    WHERE flow_id IS NOT NULL AND flow_name IS NOT NULL
    GROUP BY flow_id
)
SELECT kind, id, name, deleted, 'directory' AS source
FROM directory
WHERE name IS NOT NULL
UNION ALL
SELECT e.kind, e.id, e.name, false AS deleted, 'export' AS source
FROM export e
LEFT JOIN directory d ON d.kind = e.kind AND d.id = e.id AND d.name IS NOT NULL
WHERE d.id IS NULL
