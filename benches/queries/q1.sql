-- Conversations per day and media type (media of the customer's or external party's session).
SELECT conversation_date, media_type, count(DISTINCT conversation_id) AS conversations
FROM sessions WHERE purpose IN ('customer', 'external') GROUP BY 1, 2
